"""The stages of a run, one module each: model, export, data, build, eval, bench.

Each takes the run's typed :class:`RunContext`, fills in what it produced and returns it.
``workbench.pipeline`` composes them for ``hrnet-wb run`` (and ``bench --profile``); the
single-stage commands call the same code underneath (``workbench.build``, ``evaluate``,
``bench``).
"""

from __future__ import annotations

from collections.abc import Callable
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

__all__ = [
    "STAGES", "STAGE_FUNCS", "RunContext", "build_recipes", "ensure_preprocessor", "stage_bench",
    "stage_build", "stage_data", "stage_eval", "stage_export", "stage_model",
]
