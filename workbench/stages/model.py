"""Stage 1: load the model (timm / official / mmcls) as one canonical timm HRNet."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.events import StageTimer
from workbench.stages.context import RunContext

if TYPE_CHECKING:  # pragma: no cover
    from workbench.sources import LoadedModel


def stage_model(ctx: RunContext) -> LoadedModel:
    from workbench.sources import ModelSpec, load_model

    m = ctx.profile.model
    rep = ctx.reporter.stage("model")
    with StageTimer(rep, f"load {m.source}:{m.variant}") as st:
        ctx.loaded = load_model(
            ModelSpec(source=m.source, variant=m.variant, weights=m.weights, config=m.config, ema=m.ema), rep
        )
        st.summary = {"variant": ctx.loaded.variant, "weights": ctx.loaded.weights}
    return ctx.loaded
