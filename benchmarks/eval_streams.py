"""The whole eval with one stream vs N streams, interleaved in one process (the same int8
build, the same 500×375 JPEGs, the same batch), and the ratio per round.

One stream runs one session on all the threads and decodes in bursts between batches;
N streams share the threads (ORT: one session each; OpenVINO: one model compiled with
NUM_STREAMS=N), each decoding and running its own batches. ``hrnet-wb eval`` picks 2 on a
CPU backend with 2+ threads (``--streams 0``, the default).

    python benchmarks/eval_streams.py --backend ort-cpu --rounds 4
    python benchmarks/eval_streams.py --backend openvino-cpu --rounds 4
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    from _common import add_setup_args

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_setup_args(ap, images=200)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--backend", default="ort-cpu", choices=["ort-cpu", "openvino-cpu"])
    ap.add_argument("--threads", type=int, default=0, help="inference threads in all (0 = physical cores)")
    ap.add_argument("--streams", type=int, default=2, help="the N of the comparison")
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()

    from _common import int8_w18

    from workbench.evaluate import evaluate
    from workbench.evaluate.run import open_streams
    from workbench.events import Reporter

    work = Path(args.work)
    setup = int8_w18(work, args.images, args.calib, args.size, args.backend)
    ds, pre, art = setup.ds, setup.pre, setup.art
    shape = (args.batch, 3, args.size, args.size)
    configs = {n: open_streams(art.path, art.backend, args.threads, n, Reporter(), shape) for n in (1, args.streams)}

    def one_eval(n: int, samples) -> float:
        preds = configs[n]
        with tempfile.TemporaryDirectory(dir=work) as out:
            t = time.perf_counter()
            res = evaluate(preds if n > 1 else preds[0], samples, pre, ds.class_names, Path(out) / "r",
                           batch_size=args.batch)
            return res.n / (time.perf_counter() - t)

    for n in configs:  # warm-up: every session's first batch pays the runtime's set-up
        one_eval(n, ds.samples[: 4 * args.batch])
    rates: dict[int, list[float]] = {n: [] for n in configs}
    for _ in range(args.rounds):
        for n in configs:
            rates[n].append(one_eval(n, ds.samples))
    ratios = [b / a for a, b in zip(rates[1], rates[args.streams], strict=True)]
    print(f"host: {os.cpu_count()} CPUs, loadavg {os.getloadavg()[0]:.1f}; {len(ds.samples)} JPEGs, "
          f"batch {args.batch}, {art.backend} int8")
    for n, r in rates.items():
        print(f"eval, {n} stream(s): " + ", ".join(f"{x:.1f}" for x in r) + f" img/s (median {statistics.median(r):.1f})")
    print(f"{args.streams} streams / 1 stream per round: " + ", ".join(f"{x:.3f}" for x in ratios)
          + f"; median {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
