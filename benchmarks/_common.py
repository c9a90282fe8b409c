"""The setup the eval benchmarks share: generated JPEGs, a random-init hrnet_w18 export and
its int8 build, all cached under a work folder so reruns only measure.

No weights can be downloaded; speed does not depend on weight values.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def make_images(folder: Path, n: int, seed0: int, size: tuple[int, int] = (500, 375)) -> None:
    """Photo-like JPEGs in the ImageNet val layout (flat val/ + val_label.txt)."""
    from PIL import Image

    val = folder / "val"
    val.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed0)
    lines = []
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(n):
        name = f"ILSVRC2012_val_{seed0 + i + 1:08d}.JPEG"
        lines.append(f"{name} {int(rng.integers(0, 1000))}\n")
        p = val / name
        if p.exists():
            continue
        img = np.zeros((h, w, 3), np.float32)
        for c in range(3):
            a, b, ph = rng.uniform(0.005, 0.04), rng.uniform(0.005, 0.04), rng.uniform(0, 6.3)
            img[..., c] = 127 + 80 * np.sin(a * xx + b * yy + ph)
        for _ in range(6):
            cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(15, 110)
            img[((xx - cx) ** 2 + (yy - cy) ** 2) < r * r] = rng.uniform(0, 255, 3)
        img += rng.normal(0, 12, img.shape)  # sensor-like noise: realistic JPEG sizes and decode cost
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(p, "JPEG", quality=90)
    (folder / "val_label.txt").write_text("".join(lines))


def export_w18(path: Path, size: int) -> None:
    import timm
    import torch

    torch.manual_seed(0)
    model = timm.create_model("hrnet_w18", pretrained=False).eval()
    x = torch.randn(1, 3, size, size)
    torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=17, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})


def add_setup_args(ap: Any, images: int) -> None:
    """The arguments every :func:`int8_w18` benchmark takes. ``--work`` is one cache shared
    by all of them, so the JPEGs, the export and the int8 build are made once."""
    ap.add_argument("--images", type=int, default=images)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--calib", type=int, default=8, help="calibration images (disjoint from eval)")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "hrnet-wb-bench-eval"))


@dataclass
class Int8Setup:
    """What both eval benchmarks measure over: the dataset, its preprocessing and the int8 build."""

    ds: Any  # workbench.data.Dataset
    pre: Any  # workbench.data.preprocess.Preprocessor
    art: Any  # workbench.build.Artifact


def int8_w18(work: Path, images: int, calib: int, size: int = 224, backend: str = "ort-cpu") -> Int8Setup:
    """``images`` eval JPEGs, ``calib`` disjoint calibration JPEGs, the ONNX export and its int8 build."""
    from workbench.build import BuildRecipe, CalibrationSpec, build_artifact
    from workbench.data import open_dataset
    from workbench.data.preprocess import Preprocessor, preset_for
    from workbench.home import resolve_home

    work.mkdir(parents=True, exist_ok=True)
    data, calib_dir = work / f"data{images}", work / "calib"
    make_images(data, images, seed0=0)
    make_images(calib_dir, max(calib, 1), seed0=900000)
    onnx_path = work / f"hrnet_w18-{size}.onnx"
    if not onnx_path.exists():
        print(f"exporting hrnet_w18 (random init) at {size}x{size} ...", flush=True)
        export_w18(onnx_path, size)
    pre = Preprocessor(preset_for("timm", "hrnet_w18", "ms_in1k", (size, size)))
    ds = open_dataset(data)
    t0 = time.perf_counter()
    art = build_artifact(
        onnx_path, BuildRecipe(backend, "int8", CalibrationSpec(method="minmax", count=calib)),
        model_name="hrnet_w18", input_size=(size, size), weights_id="random-init:hrnet_w18:seed0",
        calibration_samples=open_dataset(calib_dir).samples, preprocessor=pre, home=resolve_home(work / "home"),
    )
    print(f"artifact {art.name} ({'cached' if art.cached else f'built in {time.perf_counter() - t0:.0f} s'})")
    return Int8Setup(ds, pre, art)
