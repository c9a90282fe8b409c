"""``sweep --engine ray``: each row's build + eval is a Ray task; benches are pinned.

* A row task runs :func:`workbench.sweep.row.compute_row` on whichever node Ray picks,
  against a node-local home (its artifact cache persists on that node between tasks) and
  returns the outcome: figures, the eval files and the artifact's files. The driver alone
  writes them into its home and the store.
* A row's bench runs afterwards as a separate task pinned to the node that built it
  (``NodeAffinitySchedulingStrategy``, not soft) and asking for **all** of that node's CPUs,
  so no two benches, and no build, share a node while one measures. The artifacts reach it
  through the object store. The row records that node's CPU fingerprint.
* At most ``total CPUs // row_cpus`` rows are in flight; no new row starts once
  ``--max-minutes`` is spent. Ray retries a row task whose worker died (``max_retries``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.events import Reporter
from workbench.home import Home
from workbench.store import Run
from workbench.sweep.plan import RowSpec, SweepProfile
from workbench.sweep.row import RowOutcome, install_outcome_files, record_row

TASK_RETRIES = 2


def _node_home(beside: str = "") -> Home:
    """Each node's own home for row tasks: $HRNET_WB_RAY_HOME, else ``beside`` (the driver's
    ``<home>/ray-node``) where the driver's home is on this node's disk (a local cluster: all
    state stays under the user's home), else a temp folder. Its artifact cache makes a
    rerun's builds free on that node."""
    import os

    from workbench.home import resolve_home

    root = os.environ.get("HRNET_WB_RAY_HOME") or (
        beside if beside and Path(beside).parent.is_dir() else
        str(Path(tempfile.gettempdir()) / "hrnet-wb-ray" / "home"))
    return resolve_home(root)


def _row_task(plan_json: str, row: dict[str, Any], threads: int, beside: str = "") -> RowOutcome:
    """On a worker: build and evaluate one row; carry its files back."""
    import ray

    from workbench.engines.ray_cluster import artifact_payload
    from workbench.sweep.plan import RowSpec, SweepProfile
    from workbench.sweep.row import compute_row

    plan = SweepProfile.model_validate_json(plan_json)
    spec = RowSpec(row["source"], row["variant"], row["name"], row["weights"])
    home = _node_home(beside)
    with tempfile.TemporaryDirectory(prefix="hrnet-wb-row-") as out:
        outcome = compute_row(plan, spec, home, Path(out), threads=threads, bench=False, carry_files=True)
    for b in outcome.builds:
        b.payload = artifact_payload(Path(b.artifact_dir) / b.meta["file"])
    outcome.node["ray_node_id"] = ray.get_runtime_context().get_node_id()
    return outcome


def _bench_task(plan_json: str, outcome: RowOutcome, payloads: list[Any], beside: str = "") -> RowOutcome:
    """On the pinned node, alone on it: bench every build of the row."""
    import ray

    from workbench.engines.ray_cluster import materialise
    from workbench.sweep.plan import SweepProfile
    from workbench.sweep.row import bench_builds

    plan = SweepProfile.model_validate_json(plan_json)
    with tempfile.TemporaryDirectory(prefix="hrnet-wb-bench-") as tmp:
        dirs = {}
        for b, ref in zip(outcome.builds, payloads, strict=True):
            dirs[b.name] = materialise(ray.get(ref), Path(tmp) / b.name).parent
        bench_builds(plan, outcome, _node_home(beside), Reporter(), artifact_dirs=dirs)
    return outcome


def sweep_on_ray(plan: SweepProfile, todo: list[RowSpec], home: Home, reporter: Reporter, *,
                 address: str, start: Callable[[RowSpec], Run],
                 finished: Callable[[RowSpec, RowOutcome], None],
                 failed: Callable[[RowSpec, BaseException], None],
                 out_of_time: Callable[[], bool], row_cpus: int = 1) -> None:
    from workbench.engines.ray_cluster import check_nodes, ray_session, task_error
    from workbench.store import Store

    rep = reporter.stage("sweep")
    store = Store(home.db)
    with ray_session(address, reporter=rep, log_path=home.runs / "ray.log") as session:
        ray = session.ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = {n["node_id"]: n for n in check_nodes(session, plan.data.path)}
        kinds = sorted({n["kind"] for n in nodes.values()})
        rep.log(f"Ray: {len(nodes)} node(s), {session.total_cpus} CPU(s), {len(kinds)} kind(s) of CPU")
        row_fn = ray.remote(_row_task).options(num_cpus=row_cpus, max_retries=TASK_RETRIES)
        bench_fn = ray.remote(_bench_task)
        plan_json = plan.model_dump_json()
        beside = str(home.root / "ray-node")
        slots = max(1, int(session.total_cpus // max(1, row_cpus)))
        queue = list(todo)
        running: dict[Any, tuple[str, RowSpec, int, Path, RowOutcome | None]] = {}

        def submit() -> None:
            while queue and len([v for v in running.values() if v[0] == "row"]) < slots and not out_of_time():
                r = queue.pop(0)
                run = start(r)
                assert run.out_dir is not None
                rep.log(f"{r.id}: submitted (run {run.id})")
                running[row_fn.remote(plan_json, r.as_dict(), row_cpus, beside)] = ("row", r, run.id, run.out_dir, None)

        submit()
        while running:
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            rep.check_cancelled()
            for ref in ready:
                phase, r, run_id, out_dir, _prev = running.pop(ref)
                try:
                    outcome: RowOutcome = ray.get(ref)
                except Exception as exc:
                    failed(r, task_error(exc) if not isinstance(exc, WorkbenchError) else exc)
                    continue
                if phase == "row" and plan.bench.enabled:
                    node_id = outcome.node.get("ray_node_id", "")
                    cpus = nodes.get(node_id, {}).get("cpus", 1) or 1
                    payloads = [ray.put(b.payload) for b in outcome.builds]
                    files = {b.name: (b.files, b.payload) for b in outcome.builds}
                    for b in outcome.builds:
                        b.files, b.payload = None, None
                    bref = bench_fn.options(num_cpus=cpus, scheduling_strategy=NodeAffinitySchedulingStrategy(
                        node_id, soft=False)).remote(plan_json, outcome, payloads, beside)
                    rep.log(f"{r.id}: built and evaluated on {outcome.node.get('host')}; bench pinned there")
                    for b in outcome.builds:
                        b.files, b.payload = files[b.name]
                    running[bref] = ("bench", r, run_id, out_dir, outcome)
                    continue
                if phase == "bench" and _prev is not None:
                    for b, bb in zip(_prev.builds, outcome.builds, strict=True):
                        b.bench, b.bench_rows = bb.bench, bb.bench_rows
                    _prev.bench_node, _prev.writes = outcome.bench_node, outcome.writes
                    outcome = _prev
                try:
                    install_outcome_files(outcome, home, out_dir)
                    record_row(store, run_id, outcome)
                except WorkbenchError as exc:
                    failed(r, exc)
                    continue
                finished(r, outcome)
            submit()
            if not running and queue and out_of_time():
                break
        if queue:
            rep.log(f"time budget spent: {len(queue)} row(s) left for the next run", "warning")
        time.sleep(0)
