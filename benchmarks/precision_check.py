"""What OpenVINO runs when asked for fp32, and how far each precision is from ORT fp32.

Exports a variant (seeded random-init unless --weights), runs the same inputs through ORT
fp32 and OpenVINO compiled three ways — as the workbench compiles an fp32 artifact (the
explicit f32 hint), as a bf16 artifact (where supported), and with no hint at all (the
plugin's default, what "fp32" meant before the hint was explicit) — and prints, for each,
the precision read back from the compiled model and the max abs / max relative logit
difference against ORT.

    python benchmarks/precision_check.py --variant hrnet_w18_small [--images 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", default="hrnet_w18_small")
    ap.add_argument("--weights", default="random-init")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)

    import openvino as ov

    from workbench.backends.openvino_cpu import OpenVinoPredictor
    from workbench.backends.openvino_cpu.settings import openvino_settings
    from workbench.backends.ort_cpu.predictor import OrtPredictor
    from workbench.export import export_onnx
    from workbench.hardware import bf16_support, detect_cpu
    from workbench.runtime import resolve_threads
    from workbench.sources import ModelSpec, load_model

    lm = load_model(ModelSpec(source="timm", variant=args.variant, weights=args.weights))
    x = np.random.default_rng(0).standard_normal((args.images, 3, args.size, args.size)
                                                  ).astype(np.float32)
    path = Path(tempfile.mkdtemp(prefix="prec-")) / f"{lm.variant}.onnx"
    export_onnx(lm.model, path, (args.size, args.size), parity_inputs=x[:1], tolerance=1e30)
    ref = OrtPredictor(path, args.threads).predict(x)
    scale = float(np.abs(ref).max())
    cpu = detect_cpu()
    print(f"CPU: {cpu.summary()} [{cpu.fingerprint}]; OpenVINO {ov.__version__}")
    print(f"{lm.variant} ({args.weights}), {args.images}×3×{args.size}×{args.size}, "
          f"|ORT fp32 logits| max {scale:.4g}")
    print("| OpenVINO compiled | hint read back | convs ran in | max abs vs ORT | max rel |")
    print("|---|---|---|---:|---:|")
    runs: list[tuple[str, str | None]] = [("fp32 artifact (explicit f32)", "f32")]
    ok, why = bf16_support()
    if ok:
        runs.append(("bf16 artifact", "bf16"))
    for label, prec in runs:
        p = OpenVinoPredictor(path, args.threads, precision=prec)
        got = p.predict(x)
        s = p.runtime_settings()
        d = float(np.abs(got - ref).max())
        print(f"| {label} | {s.inference_precision} | {s.compute_precision} | {d:.3g} | "
              f"{d / scale:.3g} |")
    core = ov.Core()
    m = core.read_model(str(path))
    m.reshape({m.inputs[0]: list(x.shape)})
    default = core.compile_model(m, "CPU", {"INFERENCE_NUM_THREADS": resolve_threads(args.threads)})
    got = np.asarray(next(iter(default.create_infer_request().infer({0: x}).values())))
    s = openvino_settings(default)
    d = float(np.abs(got - ref).max())
    print(f"| no hint (plugin default) | {s.inference_precision} | {s.compute_precision} | "
          f"{d:.3g} | {d / scale:.3g} |")
    if not ok:
        print(f"bf16 skipped: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
