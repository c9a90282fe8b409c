"""``eval --engine ray`` against local ``eval``: same int8 build, same images, one run.

The issue's target: on one machine, 2 actors × 1 thread reach >= 0.85× the throughput of
the local engine (its default: one process, inference on all physical cores, decode
threads) over 200+ JPEGs with the int8 hrnet_w18 build. Rounds are interleaved (local,
ray, local, ...) and each Ray figure is divided by the mean of the local runs around it.

Both engines are timed as ``hrnet-wb eval`` runs them, on an already running Ray: the local
run opens its session inside the timer, the Ray run starts its actor pool (each actor
imports Ray Data and the runtime and opens its own session) inside it. Two figures per run:

* **end to end**: images / wall time of the whole call;
* **steady**: images / time between the first and the last result written (progress
  events), i.e. the rate once the engine is running; the Ray run's start-up (time to its
  first result) is printed beside it, since over a few hundred images it weighs heavily.

Per-image identity: every Ray round's results.jsonl equals the local one, record for
record. Everything is made here (random-init hrnet_w18, generated JPEGs, the int8 build)
and cached under --work (``benchmarks/_common.py``)::

    python benchmarks/ray_eval.py --images 208 --rounds 1

The driver's write path has its own benchmark: ``benchmarks/driver_write.py``.
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from workbench.events import Reporter  # noqa: E402


class Clock(Reporter):
    """Records (time, images done) at every progress event."""

    def __init__(self) -> None:
        super().__init__()
        self.t0 = time.perf_counter()
        self.marks: list[tuple[float, int]] = []

    def progress(self, done: int, total: int | None = None, unit: str = "it") -> None:
        self.marks.append((time.perf_counter() - self.t0, done))

    def steady(self) -> float:
        """img/s between the first and the last result written."""
        (t1, n1), (t2, n2) = self.marks[0], self.marks[-1]
        return (n2 - n1) / (t2 - t1) if t2 > t1 else float("nan")


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    from _common import add_setup_args

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_setup_args(ap, images=208)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="threads per actor")
    args = ap.parse_args()

    import ray
    import ray.data
    from _common import int8_w18

    from workbench.backends import open_predictor
    from workbench.engines.node import node_fingerprint
    from workbench.engines.ray_cluster import RaySession
    from workbench.engines.ray_eval import evaluate_ray
    from workbench.evaluate import evaluate, read_results
    from workbench.runtime import resolve_threads

    work = Path(args.work)
    setup = int8_w18(work, args.images, args.calib)
    ds, pre, art = setup.ds, setup.pre, setup.art
    fp = node_fingerprint()
    print(f"host: {fp['cpu_model']} ({', '.join(fp['isa'])}), {fp['cpus']} CPUs; artifact {art.name}")
    threads = resolve_threads(0)
    ray.init(num_cpus=args.actors * args.threads, include_dashboard=False, logging_level="ERROR",
             log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    session = RaySession(ray, "local", False, [{"node_id": "", "cpus": args.actors * args.threads}])
    tmp = Path(tempfile.mkdtemp(dir=work))

    def local(k: int) -> dict[str, Any]:
        out, clock = tmp / f"local{k}", Clock()
        t = time.perf_counter()
        predictor = open_predictor(art.path, art.backend, threads)
        res = evaluate(predictor, ds.samples, pre, ds.class_names, out, batch_size=args.batch, reporter=clock)
        wall = time.perf_counter() - t
        assert res.n == len(ds.samples)
        return {"e2e": res.n / wall, "steady": clock.steady(), "first": clock.marks[0][0],
                "jsonl": res.results_jsonl}

    def on_ray(k: int) -> dict[str, Any]:
        out, clock = tmp / f"ray{k}", Clock()
        t = time.perf_counter()
        res = evaluate_ray(art.path, art.backend, ds.samples, pre, ds.class_names, out, session=session,
                           batch_size=args.batch, actors=args.actors, threads=args.threads, reporter=clock)
        wall = time.perf_counter() - t
        assert res.n == len(ds.samples)
        return {"e2e": res.n / wall, "steady": clock.steady(), "first": clock.marks[0][0],
                "jsonl": res.results_jsonl}

    print(f"load average before: {load()}", flush=True)
    on_ray(-1)  # warm-up: Ray Data's first dataset starts its stats and autoscaling actors
    local_runs, ray_runs = [local(0)], []
    for k in range(args.rounds):
        ray_runs.append(on_ray(k))
        local_runs.append(local(k + 1))

    def ratios(key: str) -> list[float]:
        return [r[key] / ((local_runs[k][key] + local_runs[k + 1][key]) / 2) for k, r in enumerate(ray_runs)]

    def canon(p: Path) -> list[str]:
        return sorted(json.dumps(r, sort_keys=True) for r in read_results(p))

    ref = canon(local_runs[0]["jsonl"])
    same = all(canon(r["jsonl"]) == ref for r in ray_runs + local_runs)
    print(f"load average after: {load()} (1/5/15 min; the machine is shared)")
    print(f"images: {len(ds.samples)}, batch {args.batch}; local engine: 1 process, {threads} inference "
          f"thread(s) + decode threads; ray: {args.actors} actor(s) × {args.threads} thread(s)")
    for name, runs in (("local eval", local_runs), ("ray eval  ", ray_runs)):
        print(f"{name}: end to end " + ", ".join(f"{r['e2e']:.2f}" for r in runs) + " img/s; steady "
              + ", ".join(f"{r['steady']:.2f}" for r in runs) + " img/s; first result after "
              + ", ".join(f"{r['first']:.2f}" for r in runs) + " s")
    for key, words in (("e2e", "end to end"), ("steady", "steady")):
        rs = ratios(key)
        print(f"ratio ray/local, {words}: {statistics.median(rs):.3f} (each ray run vs the mean of the "
              f"local runs around it: {', '.join(f'{r:.3f}' for r in rs)}; target >= 0.85)")
    print(f"per-image results identical to local in every round: {same}")
    ray.shutdown()


if __name__ == "__main__":
    main()
