"""Putting bench results into the run store, in the shape the leaderboard reads.

Grid points are stored with ``params`` (batch, streams, threads) so every configuration
can be read back; the headline figures are stored without params, which is what
``Store.leaderboard()`` pivots into one row per build.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workbench.bench.grid import BenchResult
from workbench.store import RunWrites, Store

# Per grid point: (field on BenchRow, unit).
GRID_METRICS: tuple[tuple[str, str], ...] = (
    ("p50_ms", "ms"), ("p90_ms", "ms"), ("p99_ms", "ms"), ("mean_ms", "ms"),
    ("throughput", "img/s"), ("throughput_min", "img/s"), ("throughput_max", "img/s"),
    ("spread", ""), ("peak_rss_mb", "MiB"), ("gflops", "GFLOP/s"), ("vs_roofline", "x"),
    ("vs_torch", "x"),
)


def record_result(store: RunWrites, run_id: int, result: BenchResult, artifact_key: str = "",
                  build: str | None = None) -> dict[str, float]:
    """Write every grid point and the headline metrics of ``result``; return the headline."""
    name = build or result.label
    for row in result.rows:
        params: dict[str, Any] = {"batch": row.batch, "streams": row.streams, "threads": row.threads}
        for field_name, unit in GRID_METRICS:
            value = getattr(row, field_name)
            if value is not None:
                store.add_metric(run_id, name, field_name, float(value), unit, artifact_key, params)
    heads = result.headline()
    for metric, (value, unit) in heads.items():
        store.add_metric(run_id, name, metric, float(value), unit, artifact_key)
    store.add_runtime(run_id, name, runtime_record(result), artifact_key, "bench")
    return {k: v for k, (v, _u) in heads.items()}


def runtime_record(result: BenchResult) -> dict[str, Any] | None:
    """The headline point's effective runtime settings, with what the roofline used."""
    rt = result.runtime
    if rt is None:
        return None
    best = max(result.rows, key=lambda r: r.throughput)
    return {**rt, "limit_precision": best.limit_precision or rt.get("limit_precision", ""),
            "limit_flag": best.limit_flag, "inputs": result.config.inputs,
            "fingerprint": result.fingerprint}


def record_results(store: Store, run_id: int, results: Sequence[BenchResult],
                   artifact_keys: dict[str, str] | None = None) -> dict[str, dict[str, float]]:
    keys = artifact_keys or {}
    return {r.label: record_result(store, run_id, r, keys.get(r.label, "")) for r in results}


def grid_from_store(store: Store, run_id: int, build: str) -> list[dict[str, Any]]:
    """Read a build's grid points back: one dict per (batch, streams, threads)."""
    import json

    points: dict[tuple[int, int, int], dict[str, Any]] = {}
    for m in store.metrics(run_id):
        if m["build"] != build or not m["params_json"]:
            continue
        p = json.loads(m["params_json"])
        key = (int(p["batch"]), int(p["streams"]), int(p["threads"]))
        points.setdefault(key, {"batch": key[0], "streams": key[1], "threads": key[2]})[m["name"]] = m["value"]
    return [points[k] for k in sorted(points)]
