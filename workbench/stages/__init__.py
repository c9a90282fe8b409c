"""The stages of a run, one module each: model, export, data, build, eval, bench.

Each takes the run's typed :class:`RunContext`, fills in what it produced and returns it.
``workbench.pipeline`` composes them for ``hrnet-wb run`` (and ``bench --profile``); the
single-stage commands call the same code underneath (``workbench.build``, ``evaluate``,
``bench``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from workbench.stages.bench import stage_bench
from workbench.stages.build import build_recipes, stage_build
from workbench.stages.context import STAGES, RunContext, ensure_preprocessor
from workbench.stages.data import stage_data
from workbench.stages.eval import stage_eval
from workbench.stages.export import stage_export
from workbench.stages.model import stage_model

STAGE_FUNCS: dict[str, Callable[[RunContext], Any]] = {
    "model": stage_model, "export": stage_export, "data": stage_data,
    "build": stage_build, "eval": stage_eval, "bench": stage_bench,
}


def run_stages(ctx: RunContext, names: Iterable[str] = ("model", "export", "data", "build")) -> None:
    """Run the stages ``names`` in order (by default up to the builds), each after a cancel
    check, its seconds kept in ``ctx.stage_seconds``."""
    for name in names:
        ctx.reporter.check_cancelled()
        t0 = time.perf_counter()
        STAGE_FUNCS[name](ctx)
        ctx.stage_seconds[name] = round(time.perf_counter() - t0, 3)

__all__ = [
    "STAGES", "STAGE_FUNCS", "RunContext", "build_recipes", "ensure_preprocessor", "run_stages", "stage_bench",
    "stage_build", "stage_data", "stage_eval", "stage_export", "stage_model",
]
