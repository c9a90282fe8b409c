"""Stage 6: every build and torch eager in one interleaved grid, on the roofline, recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.events import StageTimer
from workbench.stages.context import RunContext

if TYPE_CHECKING:  # pragma: no cover
    from workbench.bench import BenchResult


def stage_bench(ctx: RunContext) -> list[BenchResult]:
    """Every build and torch eager in one interleaved grid, placed on the roofline, recorded."""
    from workbench.bench import BASELINE_LABEL, BenchConfig, register_baseline
    from workbench.bench.bench_run import BuildToMeasure, measure_builds
    from workbench.bench.limits import load_average, others_load_per_cpu
    from workbench.bench.record import GRID_METRICS, runtime_record
    from workbench.records import LOAD_METRIC
    from workbench.runtime import resolve_threads

    b = ctx.profile.bench
    if not b.enabled:
        return []
    assert ctx.loaded is not None
    rep = ctx.reporter.stage("bench")
    cfg = BenchConfig(batch_sizes=list(b.batch_sizes), streams=list(b.streams),
                      threads=list(b.threads), warmup=b.warmup, iterations=b.iterations,
                      duration_s=b.duration_s, rounds=b.rounds,
                      latency_budget_ms=b.latency_budget_ms)
    size = ctx.profile.model.input_size
    builds = [BuildToMeasure(a.name, str(a.path), a.backend, a.key) for a in ctx.artifacts]
    keys = {x.name: x.key for x in builds}
    if b.baseline:
        keys[BASELINE_LABEL] = register_baseline(ctx.store, ctx.loaded, size)
    with StageTimer(rep, f"{len(builds) + int(b.baseline)} target(s)") as st:
        before = load_average()
        results = measure_builds(builds, size, cfg, ctx.home,
                                 model=ctx.loaded.model if b.baseline else None, reporter=rep)
        load = others_load_per_cpu(before, load_average(), max(resolve_threads(t) for t in cfg.threads))
        if load > 1.0:
            rep.log(f"the machine was busy while measuring (others' load {load:.1f}x its cores): "
                    "speed figures read low", "warning")
        for res in results:
            key = keys.get(res.label, "")
            for row in res.rows:
                params = {"batch": row.batch, "streams": row.streams, "threads": row.threads}
                for metric, unit in GRID_METRICS:
                    ctx.record_metric(res.label, metric, getattr(row, metric), unit, key, params)
            heads = res.headline()
            for metric, (value, unit) in heads.items():
                ctx.record_metric(res.label, metric, value, unit, key)
            ctx.record_metric(res.label, LOAD_METRIC, round(load, 2), "load/cpu", key)
            ctx.store.add_runtime(ctx.run_id, res.label, runtime_record(res), key, "bench")
            st.summary[res.label] = {k: v for k, (v, _u) in heads.items()}
            st.summary[res.label]["precision"] = res.precision
    return results
