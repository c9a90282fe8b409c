"""Stage 6: every build and torch eager in one interleaved grid, on the roofline, recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.events import StageTimer
from workbench.stages.context import RunContext

if TYPE_CHECKING:  # pragma: no cover
    from workbench.bench import BenchConfig, BenchResult


def stage_bench(ctx: RunContext, config: BenchConfig | None = None) -> list[BenchResult]:
    """Every build and torch eager in one interleaved grid, placed on the roofline, recorded.

    ``config`` is the profile's ``[bench]`` (:meth:`BenchConfig.of`) unless a caller gives
    one with flags applied (``bench --profile``); a given config runs even when the
    profile's bench stage is off."""
    from workbench.bench import BASELINE_LABEL, BenchConfig, register_baseline
    from workbench.bench.bench_run import measure_builds
    from workbench.bench.limits import load_average, others_load_per_cpu
    from workbench.bench.record import record_result
    from workbench.records import LOAD_METRIC
    from workbench.runtime import resolve_threads

    b = ctx.profile.bench
    if not b.enabled and config is None:
        return []
    rep = ctx.reporter.stage("bench")
    cfg = config or BenchConfig.of(b)
    size = ctx.profile.model.input_size
    builds = ctx.artifacts
    keys = {x.name: x.key for x in builds}
    if b.baseline:
        assert ctx.loaded is not None
        keys[BASELINE_LABEL] = register_baseline(ctx.store, ctx.loaded, size)
    with StageTimer(rep, f"{len(builds) + int(b.baseline)} target(s)") as st:
        before = load_average()
        results = measure_builds(builds, size, cfg, ctx.home,
                                 model=ctx.loaded.model if b.baseline and ctx.loaded else None, reporter=rep)
        load = others_load_per_cpu(before, load_average(), max(resolve_threads(t) for t in cfg.threads))
        if load > 1.0:
            rep.log(f"the machine was busy while measuring (others' load {load:.1f}x its cores): "
                    "speed figures read low", "warning")
        for res in results:
            key = keys.get(res.label, "")
            st.summary[res.label] = record_result(ctx.store, ctx.run_id, res, key)
            ctx.store.add_metric(ctx.run_id, res.label, LOAD_METRIC, round(load, 2), "load/cpu", key)
            ctx.show(res.label, res.headline())
            st.summary[res.label]["precision"] = res.precision
    return results
