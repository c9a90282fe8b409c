"""Side-by-side speed table for one HRNet variant: torch eager, ORT fp32, ORT int8,
OpenVINO fp32, OpenVINO bf16 (where the CPU has AVX512-BF16 or AMX) and OpenVINO int8, with
ratios to torch eager and to the machine's limit for the precision each one ran in.

The README's speed table comes from this script. Run it on a quiet machine, holding the
shared benchmark lock so nobody else times anything meanwhile:

    flock /tmp/hrnet-bench.lock python benchmarks/side_by_side.py --variant hrnet_w18

It loads the variant through workbench.sources (seeded random-init unless --weights is
given: weights do not change speed), exports ONNX, builds the four artifacts through
workbench.build (int8: QDQ U8S8 per-channel, calibrated on --calibration images, default
the bundled assets/), measures every target in interleaved rounds and prints a Markdown
table plus the machine's dense-GEMM limit per precision, CPU fingerprint, date and host. ``--json FILE`` keeps every figure.
Builds and the sgemm probe are cached in --home, so a rerun only re-measures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default="hrnet_w18")
    ap.add_argument("--weights", default="random-init",
                    help="checkpoint path (default: seeded random-init; speed does not depend on it)")
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--batch", default="1,8", help="batch sizes, comma-separated")
    ap.add_argument("--streams", default="1", help="parallel requests, comma-separated")
    ap.add_argument("--threads", default="0", help="total threads; 0 = physical cores")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=30, help="requests per grid point")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="", help="subset of targets, comma-separated")
    ap.add_argument("--calibration", type=Path, default=None, help="calibration image folder")
    ap.add_argument("--calib-count", type=int, default=8)
    ap.add_argument("--latency-budget-ms", type=float, default=None)
    ap.add_argument("--reprobe", action="store_true",
                    help="re-measure the per-precision GEMM limits (only a quiet probe is cached)")
    ap.add_argument("--home", default=None, help="workbench home (default: $HRNET_WB_HOME / user dir)")
    ap.add_argument("--json", type=Path, default=None, help="also write every figure here")
    args = ap.parse_args(argv)

    from workbench.bench import BenchConfig, limits_for
    from workbench.bench.compare import TARGETS, compare_backends
    from workbench.errors import WorkbenchError
    from workbench.events import LogLine, Progress, Reporter
    from workbench.home import resolve_home
    from workbench.input_size import parse_input_size

    def sink(ev: object) -> None:
        if isinstance(ev, LogLine):
            print(f"[{time.strftime('%H:%M:%S')}] {ev.message}", file=sys.stderr, flush=True)
        elif isinstance(ev, Progress) and ev.total:
            print(f"[{time.strftime('%H:%M:%S')}] measured {ev.done}/{ev.total} {ev.unit}",
                  file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    try:
        ints = [[int(v) for v in s.split(",") if v] for s in (args.batch, args.streams, args.threads)]
        cfg = BenchConfig(batch_sizes=ints[0], streams=ints[1], threads=ints[2],
                          warmup=args.warmup, iterations=args.iterations, rounds=args.rounds,
                          latency_budget_ms=args.latency_budget_ms).validate()
        home = resolve_home(args.home)
        rep = Reporter(sink, stage="bench")
        if args.reprobe:
            limits_for(home.cache, list(cfg.threads), refresh=True, reporter=rep)
        include = tuple(s.strip() for s in args.only.split(",") if s.strip()) or tuple(TARGETS)
        run_id, sbs = compare_backends(args.variant, parse_input_size(str(args.input_size)), home,
                                       cfg, weights=args.weights, include=include,
                                       calibration=args.calibration, calib_count=args.calib_count,
                                       reporter=rep)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(sbs.markdown())
    print(f"(run {run_id} in {home.db}; {time.perf_counter() - t0:.0f} s in all; command: "
          f"flock /tmp/hrnet-bench.lock python benchmarks/side_by_side.py "
          f"{' '.join(argv if argv is not None else sys.argv[1:])})")
    if args.json is not None:
        args.json.write_text(json.dumps({"run_id": run_id, **sbs.as_dict()}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
