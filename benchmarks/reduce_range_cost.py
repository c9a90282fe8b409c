"""What reduce_range costs in accuracy, on the tiny *trained* HRNet of tests/tinynet.py.

reduce_range (7-bit weights) exists for CPUs without VNNI, where u8×s8 pairs saturate a
16-bit intermediate. This builds the int8 recipe for both targets from one calibration set
(``--target avx2`` → reduce_range, ``--target vnni`` → full 8-bit weights), runs each on
ORT and OpenVINO on the held-out validation images, and prints top-1 and agreement with
fp32, plus the precision each runtime reported it ran. Run on each kind of machine; the
CPU is printed with the figures.

    python benchmarks/reduce_range_cost.py [--root /tmp/tinynet] [--calib 120]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=None, help="tiny-net cache and home (default: the tests' cache, a temp home)")
    ap.add_argument("--calib", type=int, default=120, help="calibration images")
    ap.add_argument("--method", default="percentile")
    args = ap.parse_args(argv)

    from tinynet import get_tinynet

    from workbench.backends import open_predictor
    from workbench.build import BuildRecipe, CalibrationSpec, build_artifact, select_calibration
    from workbench.hardware import detect_cpu
    from workbench.home import resolve_home

    root = args.root or Path(tempfile.mkdtemp(prefix="tinynet-"))
    net = get_tinynet(args.root)
    home = resolve_home(root / "home")
    calib = select_calibration(net.train_samples, count=args.calib, seed=0)
    x = np.stack([net.preprocessor.load(s.path) for s in net.val_samples])
    y = np.array([s.label for s in net.val_samples])

    def run(path: Path, backend: str) -> tuple[np.ndarray, str]:
        p = open_predictor(path, backend, 0)
        out = np.concatenate([p.predict(x[i:i + 64]) for i in range(0, len(x), 64)]).argmax(1)
        return out, p.runtime_settings().compute_precision  # type: ignore[attr-defined]

    fp32, _ = run(net.onnx_path, "ort-cpu")
    cpu = detect_cpu()
    print(f"CPU: {cpu.summary()} [{cpu.fingerprint}]")
    print(f"tinynet: {len(y)} val images, fp32 top-1 {100 * (fp32 == y).mean():.2f}%")
    print("| backend | target | reduce_range | ran as | top-1 % | Δ vs fp32 (points) | agreement % |")
    print("|---|---|---|---|---:|---:|---:|")
    for backend in ("ort-cpu", "openvino-cpu"):
        for target in ("avx2", "vnni"):
            recipe = BuildRecipe(backend, "int8", CalibrationSpec(args.method, args.calib),
                                 target=target)
            art = build_artifact(net.onnx_path, recipe, model_name="tinynet",
                                 input_size=net.input_size, weights_id=net.weights_id,
                                 export_settings={"opset": 17, "dynamic_batch": True},
                                 calibration=calib, preprocessor=net.preprocessor, home=home)
            pred, ran = run(art.path, backend)
            top1 = 100 * (pred == y).mean()
            print(f"| {backend} | {target} | {recipe.reduce_range} | {ran} | {top1:.2f} | "
                  f"{top1 - 100 * (fp32 == y).mean():+.2f} | {100 * (pred == fp32).mean():.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
