"""Stage 3: open the dataset and set the calibration images aside (evaluation never sees them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.errors import BadInput
from workbench.events import StageTimer
from workbench.stages.context import RunContext, ensure_preprocessor

if TYPE_CHECKING:  # pragma: no cover
    from workbench.data import Sample
    from workbench.profile import Profile


def _needs_calibration(profile: Profile) -> bool:
    return profile.build.dtype == "int8"


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
        calib_ids: set[str] = set()
        if _needs_calibration(ctx.profile):
            from workbench.build import select_calibration

            c = b.calibration
            if c.data:
                pool = open_dataset(c.data).samples
            elif ctx.dataset is not None:
                pool = ctx.dataset.samples
            else:
                raise BadInput("int8 needs calibration images: set [data].path or "
                               "[build.calibration].data in the profile")
            ctx.calibration = select_calibration(pool, count=c.count, seed=c.seed)
            if not c.data:
                calib_ids = ctx.calibration.ids
            rep.log(f"calibration: {len(ctx.calibration.samples)} images ({c.method}), "
                    f"manifest {ctx.calibration.manifest_hash[:12]}"
                    + (", excluded from evaluation" if calib_ids else ""))
        if ctx.dataset is not None:
            samples = [s for s in ctx.dataset.samples if s.id not in calib_ids]
            if d.limit:
                samples = samples[: d.limit]
            if not samples:
                raise BadInput(f"{d.path}: no images left to evaluate after setting aside "
                               f"{len(calib_ids)} calibration images; lower "
                               "[build.calibration].count or give [build.calibration].data")
            ctx.eval_samples = samples
        st.summary = {"eval_images": len(ctx.eval_samples),
                      "calibration_images": len(ctx.calibration.samples) if ctx.calibration else 0}
    return ctx.eval_samples
