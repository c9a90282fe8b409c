"""``eval --engine ray`` against local ``eval``: same int8 build, same images, one run.

The issue's targets:

* Ray overhead: on one machine, 2 actors × 1 thread reach >= 0.85× the throughput of the
  local engine (its default: one process, inference on all physical cores, decode threads)
  over 200+ JPEGs with the int8 hrnet_w18 build. Rounds are interleaved (local, ray, local,
  ...) and each Ray figure is divided by the mean of the local runs around it.
* The driver's write path: turning result chunks into JSONL lines and appending them, the
  only serial part, in rows/s over ``--rows`` (default 1M) synthetic results, plus the final
  pass (read back, sort, metrics, VastAI txt).
* Per-image identity: every Ray round's results.jsonl equals the local one, record for record.

Everything is made here (random-init hrnet_w18, generated JPEGs, the int8 build) and cached
under --work, as in ``eval_throughput.py``::

    python benchmarks/ray_eval.py --images 208 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def write_path_rate(rows: int, batch: int, folder: Path) -> tuple[float, float]:
    """Driver-side rows/s: chunk → JSONL lines → append+flush; then the final pass."""
    from workbench.data.layouts import Sample
    from workbench.engines.ray_engine import chunk_records
    from workbench.evaluate import RESULTS_JSONL
    from workbench.evaluate.stream import _finish
    from workbench.events import Reporter

    rng = np.random.default_rng(0)
    samples = [Sample(Path(f"/data/val/ILSVRC2012_val_{i + 1:08d}.JPEG"), int(i % 1000),
                      f"ILSVRC2012_val_{i + 1:08d}.JPEG") for i in range(rows)]
    kept = np.ones(batch, dtype=bool)
    top = rng.integers(0, 1000, size=(batch, 5))
    prob = np.sort(rng.random((batch, 5)))[:, ::-1]
    out = folder / "writepath"
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / RESULTS_JSONL
    t = time.perf_counter()
    with open(jsonl, "w", encoding="utf-8") as fh:
        for i in range(0, rows, batch):
            fh.write("".join(chunk_records(samples[i:i + batch], kept, {}, top, prob)))
            fh.flush()
    stream = rows / (time.perf_counter() - t)
    names = [f"class{i}" for i in range(1000)]
    t = time.perf_counter()
    _finish(out, jsonl, samples, names, True, {}, 1.0, rows, 0, None, Reporter())
    final = time.perf_counter() - t
    return stream, final


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=208)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="threads per actor")
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows for the write-path figure (0 = skip)")
    ap.add_argument("--calib", type=int, default=8)
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "hrnet-wb-bench-eval"))
    args = ap.parse_args()

    import ray
    from _common import int8_w18

    from workbench.backends import open_predictor
    from workbench.engines.node import node_fingerprint
    from workbench.engines.ray_engine import RaySession, evaluate_ray
    from workbench.evaluate import evaluate, read_results
    from workbench.runtime import resolve_threads

    work = Path(args.work)
    setup = int8_w18(work, args.images, args.calib)
    ds, pre, art = setup.ds, setup.pre, setup.art
    fp = node_fingerprint()
    print(f"host: {fp['cpu_model']} ({', '.join(fp['isa'])}), {fp['cpus']} CPUs, "
          f"loadavg {os.getloadavg()[0]:.1f}; artifact {art.name}")
    threads = resolve_threads(0)
    predictor = open_predictor(art.path, art.backend, threads)
    ray.init(num_cpus=args.actors * args.threads, include_dashboard=False, logging_level="ERROR",
             log_to_driver=False)
    session = RaySession(ray, "local", False, [{"node_id": "", "cpus": args.actors * args.threads}])

    tmp = Path(tempfile.mkdtemp(dir=work))

    def local(k: int) -> tuple[float, Path]:
        out = tmp / f"local{k}"
        t = time.perf_counter()
        res = evaluate(predictor, ds.samples, pre, ds.class_names, out, batch_size=args.batch)
        assert res.n == len(ds.samples)
        return res.n / (time.perf_counter() - t), res.results_jsonl

    def on_ray(k: int) -> tuple[float, Path]:
        out = tmp / f"ray{k}"
        t = time.perf_counter()
        res = evaluate_ray(art.path, art.backend, ds.samples, pre, ds.class_names, out, session=session,
                           batch_size=args.batch, actors=args.actors, threads=args.threads)
        assert res.n == len(ds.samples)
        return res.n / (time.perf_counter() - t), res.results_jsonl

    on_ray(-1)  # warm-up: Ray Data's first dataset starts its workers
    local_runs, ray_runs = [local(0)], []
    for k in range(args.rounds):
        ray_runs.append(on_ray(k))
        local_runs.append(local(k + 1))
    ratios = [r[0] / ((local_runs[k][0] + local_runs[k + 1][0]) / 2) for k, r in enumerate(ray_runs)]

    def canon(p: Path) -> list[str]:
        return sorted(json.dumps(r, sort_keys=True) for r in read_results(p))

    ref = canon(local_runs[0][1])
    same = all(canon(p) == ref for _, p in ray_runs + local_runs)
    print(f"images: {len(ds.samples)}, batch {args.batch}, local engine {threads} inference threads; "
          f"ray {args.actors} actor(s) × {args.threads} thread(s)")
    print("local eval : " + ", ".join(f"{x[0]:.2f}" for x in local_runs) + " img/s")
    print("ray eval   : " + ", ".join(f"{x[0]:.2f}" for x in ray_runs) + " img/s")
    print(f"ratio ray/local: {statistics.median(ratios):.3f} (each ray run vs the mean of the local runs "
          f"around it: {', '.join(f'{r:.3f}' for r in ratios)}; target >= 0.85)")
    print(f"per-image results identical to local in every round: {same}")
    ray.shutdown()
    if args.rows:
        stream, final = write_path_rate(args.rows, args.batch, tmp)
        print(f"driver write path: {stream:,.0f} rows/s streaming ({args.rows:,} rows); final pass "
              f"(read, sort, metrics, VastAI txt) {final:.1f} s = {args.rows / final:,.0f} rows/s")


if __name__ == "__main__":
    main()
