"""Stage 4: build every recipe the profile asks for (fp32 reference first), record them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.events import StageTimer
from workbench.stages.context import RunContext, build_recipes, make_recipe

if TYPE_CHECKING:  # pragma: no cover
    from workbench.build import Artifact, BuildRecipe


def stage_build(ctx: RunContext) -> list[Artifact]:
    """Build each recipe (the last one under ``build.accuracy_budget`` when set) and record it."""
    from workbench.build import build_artifact

    assert ctx.loaded is not None and ctx.exported is not None
    rep = ctx.reporter.stage("build")
    recipes, b, e = ctx.recipes, ctx.profile.build, ctx.profile.export
    with StageTimer(rep, f"{len(recipes)} build(s)", total=len(recipes)) as st:
        for i, recipe in enumerate(recipes):
            rep.check_cancelled()
            kwargs: dict[str, Any] = dict(
                model_name=ctx.loaded.variant, input_size=ctx.profile.model.input_size,
                weights_id=ctx.loaded.weights_id,
                export_settings={"file": ctx.exported.path.name} if ctx.profile.model.onnx
                else {"opset": e.opset, "dynamic_batch": e.dynamic_batch},
                calibration=ctx.calibration if recipe.dtype == "int8" else None,
                preprocessor=ctx.preprocessor, home=ctx.home, reporter=rep,
                source=ctx.loaded.source, weights=ctx.loaded.weights, model=ctx.loaded.model)
            if b.accuracy_budget is not None and i == len(recipes) - 1:
                art = _within_budget(ctx, recipe, kwargs)
            else:
                art = build_artifact(ctx.exported.path, recipe, **kwargs)
            art.record(ctx.store, source=ctx.loaded.source, variant=ctx.loaded.variant,
                       weights=ctx.loaded.weights)
            rep.artifact("artifact", str(art.path), art.name, cached=art.cached)
            rep.log(f"{art.name}: {'cache hit' if art.cached else 'built'}")
            ctx.artifacts.append(art)
            rep.progress(i + 1, len(recipes), "builds")
            size_mb = Path(art.path).stat().st_size / 2**20
            ctx.record_metric(art.name, "size_mb", size_mb, "MiB", art.key)
        st.summary = {"artifacts": [a.name for a in ctx.artifacts]}
    return ctx.artifacts


def _within_budget(ctx: RunContext, recipe: BuildRecipe, kwargs: dict[str, Any]) -> Artifact:
    """The accuracy-budget search: agreement with fp32 on images held out from calibration
    (the calibration images themselves where none are left); its account goes to ``ctx.budget``."""
    from workbench.build.budget import build_with_accuracy_budget

    b = ctx.profile.build
    assert b.accuracy_budget is not None and ctx.exported is not None
    agree_set = ctx.holdout[: b.agreement_images]
    note = f"agreement measured on {len(agree_set)} images held out from calibration"
    if not agree_set and ctx.calibration is not None:
        agree_set = ctx.calibration.samples
        note = "no images left outside the calibration set: agreement measured on calibration images"
    ctx.reporter.stage("build").log(f"accuracy budget: {note}")
    res = build_with_accuracy_budget(
        ctx.exported.path, recipe, agreement_samples=agree_set, min_agreement=1 - b.accuracy_budget / 100,
        sensitivity_images=b.sensitivity_images, threads=ctx.profile.data.threads, **kwargs)
    ctx.budget = {**res.as_dict(), "note": note}
    if res.sensitivity is not None:
        ctx.budget["worst_nodes"] = [n.as_dict() for n in res.sensitivity.ranked()[:10]]
    art: Artifact = res.artifact
    return art

__all__ = ["build_recipes", "make_recipe", "stage_build"]
