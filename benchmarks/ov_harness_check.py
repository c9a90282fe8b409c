"""Does the bench harness measure what OpenVINO can do? bs1 p50 of an OpenVINO artifact
through ``hrnet-wb bench``'s harness against a plain static-shape compile of the same file,
in interleaved rounds (one process, same threads, same precision hint).

    python benchmarks/ov_harness_check.py ARTIFACT.xml [--rounds 5] [--iterations 20]

Also prints what the plugin reports when no precision hint is given (its default), which
is how "fp32" used to run in bf16 on a bf16-capable CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("artifact", type=Path)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--size", type=int, default=224)
    args = ap.parse_args(argv)

    import openvino as ov

    from workbench.backends.openvino_cpu.settings import openvino_settings, ov_precision_hint
    from workbench.bench import BenchConfig, benchmark_targets
    from workbench.bench.target import artifact_target
    from workbench.hardware import detect_cpu
    from workbench.runtime import resolve_threads
    from workbench.runtime_settings import artifact_dtype

    t = resolve_threads(args.threads)
    h = w = args.size
    hint = ov_precision_hint(artifact_dtype(args.artifact))
    core = ov.Core()
    model = core.read_model(str(args.artifact))
    model.reshape({model.inputs[0]: [1, 3, h, w]})
    plain = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": t, "NUM_STREAMS": 1,
                                              "PERFORMANCE_HINT": "LATENCY",
                                              "INFERENCE_PRECISION_HINT": hint})
    req = plain.create_infer_request()
    x = np.random.default_rng(0).standard_normal((1, 3, h, w), dtype=np.float32)
    for _ in range(3):
        req.infer({0: x})
    target = artifact_target("harness", args.artifact, "openvino-cpu")
    cfg = BenchConfig(batch_sizes=[1], streams=[1], threads=[t], warmup=3,
                      iterations=args.iterations, rounds=1)
    harness_p50, plain_p50 = [], []
    for _ in range(args.rounds):
        res = benchmark_targets([target], (h, w), cfg)[0]
        harness_p50.append(res.rows[0].p50_ms)
        lat = []
        for _ in range(args.iterations):
            t0 = time.perf_counter()
            req.infer({0: x})
            lat.append((time.perf_counter() - t0) * 1e3)
        plain_p50.append(float(np.percentile(lat, 50)))
    default = core.compile_model(str(args.artifact), "CPU", {"INFERENCE_NUM_THREADS": t})
    ratio = [a / b for a, b in zip(harness_p50, plain_p50, strict=True)]
    print(f"CPU: {detect_cpu().summary()} [{detect_cpu().fingerprint}]")
    print(f"{args.artifact}: hint {hint}; harness ran {res.runtime and res.runtime['compute_precision']}, "
          f"plain ran {openvino_settings(plain).compute_precision}")
    print(f"bs1 p50 per round, harness ms: {', '.join(f'{v:.2f}' for v in harness_p50)}")
    print(f"bs1 p50 per round, plain   ms: {', '.join(f'{v:.2f}' for v in plain_p50)}")
    print(f"harness / plain: median {statistics.median(ratio):.3f} "
          f"(min {min(ratio):.3f}, max {max(ratio):.3f}) over {args.rounds} interleaved rounds")
    print(f"no hint given: the plugin reports INFERENCE_PRECISION_HINT = "
          f"{default.get_property('INFERENCE_PRECISION_HINT')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
