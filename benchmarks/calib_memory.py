"""Peak memory of int8 calibration: 1000 images at 224² on hrnet_w18 must stay ≤ 4 GiB RSS.

ORT's histogram calibrators keep every intermediate output of every image they are given
(~65 MB per image on hrnet_w18), so a naive 1000-image percentile calibration needs tens of
GiB. ``workbench.build.calibration.compute_ranges`` feeds them in chunks; this script
measures what that costs, on real JPEG files, through the real ``build_artifact``.

    flock /tmp/hrnet-bench.lock python benchmarks/calib_memory.py            # 1000 images, percentile
    python benchmarks/calib_memory.py --images 64 --method entropy --json

Steps (each in its own process, so the figure is calibration's alone):
  1. export hrnet_w18 (random init; memory does not depend on the weights) to ONNX,
  2. draw N synthetic 500×375 JPEGs in 10 class folders,
  3. build the int8 ort-cpu artifact in a fresh home and report peak RSS
     (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), wall time and chunk size.

Takes about 25–40 minutes for 1000 images on 2 cores (mostly ORT's histogramming).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT_GIB = 4.0


def export(out: Path, variant: str, size: int) -> None:
    import timm
    import torch

    from workbench.export import export_onnx

    torch.manual_seed(0)
    model = timm.create_model(variant, pretrained=False)
    sane_batchnorm(model, size)
    export_onnx(model, out, (size, size), opset=17, dynamic_batch=True)


def sane_batchnorm(model, size: int, images: int = 16) -> None:
    """Random-init HRNet with identity BN statistics produces logits around 1e6 (residual
    sums grow unchecked). Re-estimating BN statistics on a few random inputs gives
    activations of ImageNet-like scale, so ranges, histograms and per-layer errors behave
    like a trained network's. The weights stay random."""
    import torch

    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the passes below
    model.train()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _ in range(images // 4):
            model(torch.randn(4, 3, size, size, generator=g))
    model.eval()


def draw_images(root: Path, n: int, classes: int = 10) -> None:
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"class{i % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        base = rng.integers(0, 255, (375 // 5, 500 // 5, 3), dtype=np.uint8)
        im = Image.fromarray(base).resize((500, 375), Image.BILINEAR)
        d = ImageDraw.Draw(im)
        for _ in range(4):
            x, y = rng.integers(0, 450), rng.integers(0, 330)
            d.ellipse([x, y, x + rng.integers(20, 120), y + rng.integers(20, 120)],
                      fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
        im.save(folder / f"{i:05d}.jpg", quality=90)


def calibrate(onnx: Path, images: Path, method: str, count: int, size: int, home: Path) -> dict:
    from dataclasses import dataclass

    from workbench.build import BuildRecipe, CalibrationSpec, build_artifact, select_calibration

    @dataclass(frozen=True)
    class Sample:
        path: Path
        label: int
        id: str

    files = sorted(images.glob("*/*.jpg"))
    samples = [Sample(f, int(f.parent.name[5:]), f"{f.parent.name}/{f.stem}") for f in files]
    calib = select_calibration(samples, count=count, seed=0)
    t0 = time.perf_counter()
    art = build_artifact(onnx, BuildRecipe("ort-cpu", "int8", CalibrationSpec(method, count)),
                         model_name="hrnet_w18", input_size=(size, size), weights_id="random-init",
                         export_settings={"opset": 17, "dynamic_batch": True},
                         calibration=calib, preprocessor=None, home=home)
    wall = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    c = art.meta["calibration"]
    return {"method": method, "images": c["images"], "chunk_images": c["chunk_images"],
            "calibration_seconds": c["seconds"], "build_seconds": round(wall, 1),
            "peak_rss_gib": round(peak_kib / 2**20, 3), "limit_gib": LIMIT_GIB,
            "ok": peak_kib / 2**20 <= LIMIT_GIB, "artifact": str(art.path)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--method", default="percentile", choices=["minmax", "entropy", "percentile"])
    ap.add_argument("--variant", default="hrnet_w18")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--workdir", default="", help="keep files here (default: a temp dir)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--_step", default="", help=argparse.SUPPRESS)
    ap.add_argument("--_onnx", default="", help=argparse.SUPPRESS)
    ap.add_argument("--_imgs", default="", help=argparse.SUPPRESS)
    ap.add_argument("--_home", default="", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._step == "export":
        export(Path(a._onnx), a.variant, a.size)
        return 0
    if a._step == "calibrate":
        print(json.dumps(calibrate(Path(a._onnx), Path(a._imgs), a.method, a.images, a.size,
                                   Path(a._home))))
        return 0
    work = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="calib-mem-"))
    work.mkdir(parents=True, exist_ok=True)
    onnx = work / f"{a.variant}-{a.size}.onnx"
    imgs = work / f"images-{a.images}"
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    me = [sys.executable, __file__, "--variant", a.variant, "--size", str(a.size)]
    if not onnx.exists():
        subprocess.run([*me, "--_step", "export", "--_onnx", str(onnx)], check=True, env=env)
    if not imgs.exists():
        draw_images(imgs, a.images)
    home = Path(tempfile.mkdtemp(prefix="home-", dir=work))  # fresh: no cached ranges
    out = subprocess.run([*me, "--_step", "calibrate", "--_onnx", str(onnx), "--_imgs", str(imgs),
                          "--_home", str(home), "--method", a.method, "--images", str(a.images)],
                         check=True, env=env, capture_output=True, text=True)
    rec = json.loads(out.stdout.strip().splitlines()[-1])
    if a.json:
        print(json.dumps(rec))
    else:
        print(f"{a.variant} {a.size}² {a.method}: {rec['images']} images in chunks of "
              f"{rec['chunk_images']}, calibration {rec['calibration_seconds']:.0f} s, "
              f"peak RSS {rec['peak_rss_gib']:.2f} GiB (limit {LIMIT_GIB} GiB) -> "
              f"{'OK' if rec['ok'] else 'OVER'}")
    return 0 if rec["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
