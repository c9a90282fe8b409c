"""int8 speed on hrnet_w18, side by side: torch eager fp32, ORT fp32, ORT int8, OpenVINO fp32
and OpenVINO int8, every artifact built by ``workbench.build`` exactly as the pipeline would.

    python benchmarks/int8_speed.py --build-only                           # builds (cached), no timing
    flock /tmp/hrnet-bench.lock python benchmarks/int8_speed.py            # hrnet_w18, 2 threads
    python benchmarks/int8_speed.py --variant hrnet_w18_small --rounds 3 --json

Measurement: all five predictors stay loaded; each round runs every target in turn (bs1
latency, then bs8 throughput), so a noisy neighbour hits all of them alike; the figure per
target is the median over rounds. Latency is the median of ``--iters`` bs1 calls;
throughput is 8 / median bs8 call time. Speed does not depend on the weights, so the model
is random-init (timm init + BN statistics from seeded noise, via workbench.sources) and
calibration uses 16 synthetic JPEGs; the builds are cached in ``--home``, so a rerun only
measures.

Targets of issue 4 (2 threads):
  best int8 throughput >= 1.7x ORT fp32 and >= 3.0x torch eager fp32;
  best int8 bs1 p50 <= 0.75x ORT int8's.

First run ~6 min on 2 cores (export, calibration, builds); reruns ~2-3 min.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int
    id: str


def synthetic_jpegs(folder: Path, n: int = 16) -> list[Sample]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        f = folder / f"{i:03d}.jpg"
        if not f.exists():
            small = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            Image.fromarray(small).resize((320, 240), Image.BILINEAR).save(f, quality=90)
        out.append(Sample(f, i % 4, f.stem))
    return out


def build_all(variant: str, size: int, home: Path, method: str) -> tuple[Any, dict[str, Any]]:
    import hashlib

    from workbench.build import BuildRecipe, CalibrationSpec, build_artifact, select_calibration
    from workbench.export import export_onnx
    from workbench.home import resolve_home
    from workbench.sources import ModelSpec, load_model

    hm = resolve_home(home)
    lm = load_model(ModelSpec(source="timm", variant=variant, weights="random-init"))
    key = hashlib.sha256(f"{lm.weights_id}|{size}".encode()).hexdigest()[:12]
    onnx = hm.cache / "exports" / f"{lm.variant}-{size}-{key}.onnx"
    if not onnx.exists():
        export_onnx(lm.model, onnx, (size, size), opset=17, dynamic_batch=True)
    calib = select_calibration(synthetic_jpegs(hm.cache / "int8-speed-jpegs"), count=16, seed=0)
    kw = dict(model_name=lm.variant, input_size=(size, size), weights_id=lm.weights_id,
              export_settings={"opset": 17, "dynamic_batch": True}, calibration=calib, home=hm)
    spec = CalibrationSpec(method, 16)
    arts = {
        "ort-fp32": build_artifact(onnx, BuildRecipe("ort-cpu", "fp32"), **kw),
        "ort-int8": build_artifact(onnx, BuildRecipe("ort-cpu", "int8", spec), **kw),
        "ov-fp32": build_artifact(onnx, BuildRecipe("openvino-cpu", "fp32"), **kw),
        "ov-int8": build_artifact(onnx, BuildRecipe("openvino-cpu", "int8", spec), **kw),
    }
    return lm.model, arts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default="hrnet_w18")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=10, help="bs1 calls per round")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--batch-iters", type=int, default=3, help="bs8 calls per round")
    ap.add_argument("--method", default="percentile", choices=["minmax", "entropy", "percentile"])
    ap.add_argument("--home", default=str(Path(tempfile.gettempdir()) / "hrnet-wb-int8-speed"))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--build-only", action="store_true",
                    help="build (or find) the artifacts and stop; measure later under the lock")
    a = ap.parse_args()

    import torch

    from workbench.runtime import OpenVinoPredictor, OrtPredictor, TorchPredictor

    t_build = time.perf_counter()
    model, arts = build_all(a.variant, a.size, Path(a.home), a.method)
    t_build = time.perf_counter() - t_build
    if a.build_only:
        print(json.dumps({k: str(v.path) for k, v in arts.items()}, indent=2))
        return 0
    torch.set_num_threads(a.threads)
    preds: dict[str, Any] = {
        "torch-fp32": TorchPredictor(model, a.threads),
        "ort-fp32": OrtPredictor(arts["ort-fp32"].path, a.threads),
        "ort-int8": OrtPredictor(arts["ort-int8"].path, a.threads),
        "ov-fp32": OpenVinoPredictor(arts["ov-fp32"].path, a.threads),
        "ov-int8": OpenVinoPredictor(arts["ov-int8"].path, a.threads),
    }
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((1, 3, a.size, a.size)).astype(np.float32)
    xb = rng.standard_normal((a.batch, 3, a.size, a.size)).astype(np.float32)
    for p in preds.values():  # warm-up: first calls allocate and pick kernels
        p.predict(x1)
        p.predict(xb)
    lat: dict[str, list[float]] = {k: [] for k in preds}
    thr: dict[str, list[float]] = {k: [] for k in preds}
    t_meas = time.perf_counter()
    for r in range(a.rounds):
        order = list(preds) if r % 2 == 0 else list(reversed(preds))  # interleave, alternate order
        for name in order:
            p = preds[name]
            ts = []
            for _ in range(a.iters):
                t = time.perf_counter()
                p.predict(x1)
                ts.append(time.perf_counter() - t)
            lat[name].append(1000 * statistics.median(ts))
            tb = []
            for _ in range(a.batch_iters):
                t = time.perf_counter()
                p.predict(xb)
                tb.append(time.perf_counter() - t)
            thr[name].append(a.batch / statistics.median(tb))
    t_meas = time.perf_counter() - t_meas
    rows = {k: {"bs1_p50_ms": round(statistics.median(lat[k]), 2),
                f"bs{a.batch}_img_s": round(statistics.median(thr[k]), 2),
                "rounds_p50_ms": [round(v, 1) for v in lat[k]]} for k in preds}
    tkey = f"bs{a.batch}_img_s"
    int8 = ("ort-int8", "ov-int8")
    best_thr = max(int8, key=lambda k: rows[k][tkey])
    best_lat = min(int8, key=lambda k: rows[k]["bs1_p50_ms"])
    ratios = {
        "best_int8_throughput": best_thr,
        "thr_vs_ort_fp32": round(rows[best_thr][tkey] / rows["ort-fp32"][tkey], 3),
        "thr_vs_torch": round(rows[best_thr][tkey] / rows["torch-fp32"][tkey], 3),
        "best_int8_latency": best_lat,
        "p50_vs_ort_int8": round(rows[best_lat]["bs1_p50_ms"] / rows["ort-int8"]["bs1_p50_ms"], 3),
    }
    checks = {"thr >= 1.7x ORT fp32": ratios["thr_vs_ort_fp32"] >= 1.7,
              "thr >= 3.0x torch": ratios["thr_vs_torch"] >= 3.0,
              "p50 <= 0.75x ORT int8": ratios["p50_vs_ort_int8"] <= 0.75}
    rec = {"variant": a.variant, "input": a.size, "threads": a.threads, "rounds": a.rounds,
           "method": a.method, "rows": rows, "ratios": ratios, "checks": checks,
           "artifacts": {k: v.name for k, v in arts.items()},
           "build_seconds": round(t_build, 1), "measure_seconds": round(t_meas, 1)}
    if a.json:
        print(json.dumps(rec, indent=2))
    else:
        print(f"{a.variant} {a.size}x{a.size}, {a.threads} threads, {a.rounds} interleaved rounds "
              f"(medians); builds {t_build:.0f} s, measuring {t_meas:.0f} s")
        print(f"{'target':<12} {'bs1 p50 ms':>11} {f'bs{a.batch} img/s':>11}   per-round bs1 p50")
        for k, r in rows.items():
            print(f"{k:<12} {r['bs1_p50_ms']:>11.1f} {r[tkey]:>11.1f}   {r['rounds_p50_ms']}")
        print(f"best int8 throughput ({best_thr}): {ratios['thr_vs_ort_fp32']:.2f}x ORT fp32, "
              f"{ratios['thr_vs_torch']:.2f}x torch eager")
        print(f"best int8 bs1 p50 ({best_lat}): {ratios['p50_vs_ort_int8']:.2f}x ORT int8")
        for name, ok in checks.items():
            print(f"  [{'ok' if ok else 'MISS'}] {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
