"""Stage 4: build every recipe the profile asks for (fp32 reference first), record them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from workbench.events import StageTimer
from workbench.stages.context import RunContext

if TYPE_CHECKING:  # pragma: no cover
    from workbench.build import Artifact, BuildRecipe
    from workbench.profile import Profile


def build_recipes(profile: Profile) -> list[BuildRecipe]:
    """The builds a profile asks for: the target, preceded by an fp32 reference if wanted."""
    from workbench.build import BuildRecipe, CalibrationSpec

    b = profile.build
    c = b.calibration
    target = BuildRecipe(
        backend=b.backend, dtype=b.dtype,
        calibration=CalibrationSpec(method=c.method, count=c.count, percentile=c.percentile,
                                    seed=c.seed) if b.dtype == "int8" else None,
        target=b.target,
    )
    recipes = [target]
    if b.reference and b.dtype != "fp32":
        recipes.insert(0, BuildRecipe(backend=b.backend, dtype="fp32", calibration=None))
    return recipes


def stage_build(ctx: RunContext) -> list[Artifact]:
    from workbench.build import build_artifact

    assert ctx.loaded is not None and ctx.exported is not None
    rep = ctx.reporter.stage("build")
    recipes = build_recipes(ctx.profile)
    with StageTimer(rep, f"{len(recipes)} build(s)", total=len(recipes)) as st:
        e = ctx.profile.export
        for i, recipe in enumerate(recipes):
            rep.check_cancelled()
            art = build_artifact(
                ctx.exported.path, recipe, model_name=ctx.loaded.variant,
                input_size=ctx.profile.model.input_size, weights_id=ctx.loaded.weights_id,
                export_settings={"opset": e.opset, "dynamic_batch": e.dynamic_batch},
                calibration=ctx.calibration if recipe.dtype == "int8" else None,
                preprocessor=ctx.preprocessor, home=ctx.home, reporter=rep,
                source=ctx.loaded.source, weights=ctx.loaded.weights, model=ctx.loaded.model,
            )
            h, w = ctx.profile.model.input_size
            calib = ""
            if recipe.calibration is not None:
                calib = recipe.calibration.method
            ctx.store.add_artifact(
                art.key, art.name, "artifact", str(art.path), source=ctx.loaded.source,
                variant=ctx.loaded.variant, weights=ctx.loaded.weights, backend=art.backend,
                dtype=art.dtype, calibration=calib, input_size=f"{h}x{w}", meta=art.meta,
            )
            rep.artifact("artifact", str(art.path), art.name, cached=art.cached)
            rep.log(f"{art.name}: {'cache hit' if art.cached else 'built'}")
            ctx.artifacts.append(art)
            rep.progress(i + 1, len(recipes), "builds")
            size_mb = Path(art.path).stat().st_size / 2**20
            ctx.record_metric(art.name, "size_mb", size_mb, "MiB", art.key)
        st.summary = {"artifacts": [a.name for a in ctx.artifacts]}
    return ctx.artifacts
