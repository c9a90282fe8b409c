"""Stage 3: open the dataset and set the calibration images aside (evaluation never sees them)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from workbench.errors import BadInput
from workbench.events import StageTimer
from workbench.stages.context import RunContext, ensure_preprocessor

if TYPE_CHECKING:  # pragma: no cover
    from workbench.data import Sample
    from workbench.events import Reporter
    from workbench.profile import CalibrationSection


def _cap_calibration(ctx: RunContext, n: int, rep: Reporter) -> CalibrationSection:
    """Calibration taken from the evaluation data keeps at most half of it (as ``sweep``
    does), so a small dataset such as the bundled 13 images still has images to evaluate.
    The capped count goes back into the profile, so the build recipe records what ran."""
    c = ctx.profile.build.calibration
    cap = max(1, n // 2)
    if c.count <= cap:
        return c
    rep.log(f"calibration capped at {cap} of {n} images (half the data) so the rest can be "
            "evaluated; set build.calibration.data for a separate calibration set", "warning")
    c = c.model_copy(update={"count": cap})
    build = ctx.profile.build.model_copy(update={"calibration": c})
    ctx.profile = ctx.profile.model_copy(update={"build": build})
    ctx.recipes = [r if r.calibration is None or r.calibration.count <= cap
                   else replace(r, calibration=replace(r.calibration, count=cap)) for r in ctx.recipes]
    return c


def stage_data(ctx: RunContext) -> list[Sample]:
    """Open the dataset and split off calibration images, so evaluation never sees them."""
    d, b = ctx.profile.data, ctx.profile.build
    rep = ctx.reporter.stage("data")
    with StageTimer(rep, "dataset and calibration set") as st:
        ensure_preprocessor(ctx)
        from workbench.data import open_dataset

        if d.path:
            ctx.dataset = open_dataset(d.path, layout=d.layout, labels=d.labels)
            rep.log(f"{ctx.dataset.layout}: {len(ctx.dataset.samples)} images in {ctx.dataset.root}")
        calib_hashes: set[str] = set()
        if any(r.dtype == "int8" for r in ctx.recipes):
            from workbench.build import select_calibration

            c = b.calibration
            if c.data:
                pool = open_dataset(c.data, layout=c.layout, labels=c.labels).samples
            elif ctx.dataset is not None:
                pool = ctx.dataset.samples
                c = _cap_calibration(ctx, len(pool), rep)
            else:
                raise BadInput("int8 needs calibration images: set [data].path or "
                               "[build.calibration].data in the profile")
            ctx.calibration = select_calibration(pool, count=c.count, seed=c.seed)
            ctx.holdout = ctx.calibration.rest(pool)
            calib_hashes = {m["sha256"] for m in ctx.calibration.manifest if m.get("sha256")}
            rep.log(f"calibration: {len(ctx.calibration.samples)} of {len(pool)} images ({c.method}), "
                    f"manifest {ctx.calibration.manifest_hash[:12]}")
        if ctx.dataset is not None:
            from workbench.data.identity import dataset_identity, hash_samples

            ctx.data_identity = dataset_identity(ctx.dataset.root, ctx.dataset.layout,
                                                 ctx.dataset.samples)
            samples = ctx.dataset.samples
            if calib_hashes:  # by content: a separate calibration folder may hold the same images
                hashes = hash_samples(samples, reporter=rep)
                samples = [s for s in samples if hashes.get(s.id) not in calib_hashes]
                ctx.calibration_excluded = len(ctx.dataset.samples) - len(samples)
                rep.log(f"left out {ctx.calibration_excluded} calibration images from evaluation "
                        "(matched by content)")
            if d.limit:
                samples = samples[: d.limit]
            if not samples:
                raise BadInput(f"{d.path}: no images left to evaluate after setting aside "
                               f"{ctx.calibration_excluded} calibration images; lower "
                               "[build.calibration].count or give [build.calibration].data")
            ctx.eval_samples = samples
        st.summary = {"eval_images": len(ctx.eval_samples),
                      "calibration_images": len(ctx.calibration.samples) if ctx.calibration else 0}
    return ctx.eval_samples
