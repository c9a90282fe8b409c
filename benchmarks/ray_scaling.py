"""How ``eval --engine ray`` scales with actors, in simulation: a two-node Ray cluster on
this machine (``ray.cluster_utils.Cluster``, a head and a worker node, 1 CPU each, both on
this machine's address), the sharded eval with 1 actor and then 2 actors × 1 thread, same
int8 hrnet_w18 build and images, interleaved rounds.

Each actor asks for 1 CPU, so with 2 actors Ray must place one on each node; the driver
counts which node classified each batch and prints it. Both "nodes" share this machine's
cores, so the scaling ratio here is bounded by the cores (and by whoever else uses them),
not by the network: it shows the engine spreading work across nodes and what it costs,
not what two real machines would give. Per-image results are checked identical across
actor counts.
::

    python benchmarks/ray_scaling.py --images 208 --rounds 1
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


def main() -> None:
    from _common import add_setup_args

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_setup_args(ap, images=208)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()

    import ray
    import ray.data
    from _common import int8_w18
    from ray.cluster_utils import Cluster
    from ray_eval import Clock, load

    from workbench.engines.ray_cluster import RaySession, check_nodes
    from workbench.engines.ray_eval import evaluate_ray
    from workbench.evaluate import read_results

    class NodeClock(Clock):
        """A Clock that also keeps the driver's batches-per-node line."""

        per_node = ""

        def log(self, message: str, level: str = "info") -> None:
            if message.startswith("Ray: batches per node:"):
                self.per_node = message.split(":", 2)[2].strip()

    work = Path(args.work)
    setup = int8_w18(work, args.images, args.calib)
    ds, pre, art = setup.ds, setup.pre, setup.art
    print(f"load average before: {load()}", flush=True)
    t = time.perf_counter()
    # the nodes take this machine's address: with node_ip_address="127.0.0.1" Ray 2.60's Cluster
    # helper hangs (its GCS client dials the machine's address, the GCS listens on loopback)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
    cluster.wait_for_nodes()
    ray.data.DataContext.get_current().enable_progress_bars = False
    nodes = [{"node_id": n["NodeID"], "address": n["NodeManagerAddress"], "cpus": n["Resources"].get("CPU", 0)}
             for n in ray.nodes() if n["Alive"]]
    session = RaySession(ray, cluster.address, False, nodes)
    checked = check_nodes(session, str(ds.root))
    print(f"cluster: {len(checked)} nodes ({', '.join(n['node_id'][:8] + ' ' + str(int(n['cpus'])) + ' CPU' for n in checked)})"
          f" on {checked[0]['cpu_model']}, {os.cpu_count()} cores shared by both; up in "
          f"{time.perf_counter() - t:.1f} s", flush=True)
    tmp = Path(tempfile.mkdtemp(dir=work))

    def run(actors: int, k: int) -> dict[str, Any]:
        clock = NodeClock()
        t = time.perf_counter()
        res = evaluate_ray(art.path, art.backend, ds.samples, pre, ds.class_names, tmp / f"a{actors}-{k}",
                           session=session, batch_size=args.batch, actors=actors, threads=1, reporter=clock)
        wall = time.perf_counter() - t
        assert res.n == len(ds.samples)
        return {"e2e": res.n / wall, "steady": clock.steady(), "first": clock.marks[0][0],
                "nodes": clock.per_node, "jsonl": res.results_jsonl}

    run(1, -1)  # warm-up: Ray Data's stats and autoscaling actors, worker processes
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    for k in range(args.rounds):
        for actors in (1, 2):
            runs[actors].append(run(actors, k))
    print(f"load average after: {load()} (1/5/15 min; the machine is shared)")

    def canon(p: Path) -> list[str]:
        return sorted(json.dumps(r, sort_keys=True) for r in read_results(p))

    ref = canon(runs[1][0]["jsonl"])
    same = all(canon(r["jsonl"]) == ref for rs in runs.values() for r in rs)
    print(f"images: {len(ds.samples)}, batch {args.batch}, int8 hrnet_w18, 1 thread per actor")
    for actors, rs in runs.items():
        print(f"{actors} actor(s): end to end " + ", ".join(f"{r['e2e']:.2f}" for r in rs) + " img/s; steady "
              + ", ".join(f"{r['steady']:.2f}" for r in rs) + " img/s; first result after "
              + ", ".join(f"{r['first']:.2f}" for r in rs) + " s; batches per node: "
              + " | ".join(r["nodes"] for r in rs))
    for key, words in (("e2e", "end to end"), ("steady", "steady")):
        ratios = [b[key] / a[key] for a, b in zip(runs[1], runs[2], strict=True)]
        print(f"scaling 2 actors / 1 actor, {words}: {statistics.median(ratios):.2f}× "
              f"({', '.join(f'{r:.2f}' for r in ratios)}; ideal 2.00× on two real nodes)")
    print(f"per-image results identical across actor counts: {same}")
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main()
