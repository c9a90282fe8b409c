"""``hrnet-wb bench --compare-backends`` and ``benchmarks/side_by_side.py``: a profile of
one variant whose builds are the compared targets, run through the pipeline's model,
export, data and build stages, then measured side by side in one interleaved run
(:mod:`workbench.bench.compare` lays out the table)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.backends import is_baseline
from workbench.bench.baseline import torch_target
from workbench.bench.compare import (
    TARGETS,
    SideBySide,
    measure_side_by_side,
    record_side_by_side,
    skipped_targets,
)
from workbench.bench.roofline import variant_gmacs
from workbench.bench.target import artifact_target
from workbench.errors import BadInput
from workbench.events import Reporter
from workbench.home import Home
from workbench.store import PendingWrites, Store

if TYPE_CHECKING:  # pragma: no cover
    from workbench.bench.grid import BenchConfig, BenchTarget
    from workbench.profile import Profile
    from workbench.sources import LoadedModel


def _calibration_folder(calibration: Path | None) -> Path:
    """The bundled demo images of a source checkout when no folder is given."""
    if calibration is None:
        default = Path(__file__).resolve().parents[1] / "assets"
        if not (default / "val").is_dir():
            raise BadInput("int8 builds need calibration images: pass --calibration DIR")
        calibration = default
    if not calibration.exists():
        raise BadInput(f"{calibration}: calibration folder not found")
    return calibration


def compare_profile(variant: str, input_size: tuple[int, int], weights: str, calibration: str,
                    calib_count: int, calib_method: str) -> Profile:
    """The comparison as a profile: timm's ``variant`` at ``input_size``, exported at opset
    17 with a dynamic batch, calibrated on ``calibration`` (no evaluation data)."""
    from workbench.profile import Profile

    return Profile.model_validate({
        "name": f"compare {variant}",
        "model": {"source": "timm", "variant": variant, "weights": weights,
                  "input_size": list(input_size)},
        "build": {"dtype": "fp32", "reference": False,
                  "calibration": {"method": calib_method, "count": calib_count, "data": calibration}},
        "bench": {"enabled": False},
    })


def prepare_targets(variant: str, input_size: tuple[int, int], home: Home, *,
                    weights: str = "random-init", include: Sequence[str] = tuple(TARGETS),
                    calibration: Path | None = None, calib_count: int = 8,
                    calib_method: str = "minmax", reporter: Reporter | None = None,
                    ) -> tuple[list[BenchTarget], float, dict[str, Any], LoadedModel, PendingWrites]:
    """Load, export and build what ``include`` asks for through the pipeline's stages;
    return the bench targets, the model's GMACs, the artifact behind each non-torch target,
    the model and the stages' store writes."""
    from workbench.stages import RunContext, run_stages, stage_model
    from workbench.stages.build import make_recipe

    rep = reporter or Reporter()
    unknown = [t for t in include if t not in TARGETS]
    if unknown:
        raise BadInput(f"compare: unknown target(s) {unknown}; expected {', '.join(TARGETS)}")
    skipped = skipped_targets(include)
    include = [t for t in include if t not in skipped]
    builds = [t for t in include if not is_baseline(TARGETS[t][0])]
    int8 = any(TARGETS[t][1] == "int8" for t in builds)
    folder = str(_calibration_folder(calibration)) if int8 else ""
    prof = compare_profile(variant, input_size, weights, folder, calib_count, calib_method)
    c = prof.build.calibration
    ctx = RunContext(prof, home, PendingWrites(), rep, 0, home.runs,
                     recipes=[make_recipe(*TARGETS[t], c) for t in builds])
    stage_model(ctx)
    assert ctx.loaded is not None
    loaded = ctx.loaded
    if builds:  # the export's parity gate is relative to the logits' scale (workbench.parity)
        run_stages(ctx, ("export", "data", "build"))
    arts = dict(zip(builds, ctx.artifacts, strict=True))
    gmacs = variant_gmacs(loaded.variant, input_size)
    assert loaded.model is not None
    targets = [torch_target(loaded.model, t, input_size, count_macs=False) if t not in arts
               else artifact_target(t, arts[t].path, arts[t].backend, gmacs) for t in include]
    assert isinstance(ctx.store, PendingWrites)
    return targets, gmacs, arts, loaded, ctx.store


def side_by_side(variant: str, input_size: tuple[int, int], home: Home, config: BenchConfig,
                 *, weights: str = "random-init", include: Sequence[str] = tuple(TARGETS),
                 calibration: Path | None = None, calib_count: int = 8,
                 reporter: Reporter | None = None) -> SideBySide:
    """Build (through the stages) and measure the targets of ``variant`` in one run."""
    rep = reporter or Reporter()
    t0 = time.perf_counter()
    targets, gmacs, arts, loaded, writes = prepare_targets(
        variant, input_size, home, weights=weights, include=include, calibration=calibration,
        calib_count=calib_count, reporter=rep)
    sbs = measure_side_by_side(variant, input_size, home, config, targets, gmacs, arts, loaded,
                               weights=weights, include=include, reporter=rep, started=t0)
    sbs.writes = writes
    return sbs


def compare_backends(variant: str, input_size: tuple[int, int], home: Home, config: BenchConfig,
                     *, record: bool = True, reporter: Reporter | None = None,
                     **kwargs: Any) -> tuple[int | None, SideBySide]:
    """:func:`side_by_side`, recorded as one run (started before the builds, so a failure
    is on record too) unless ``record`` is off."""
    rep = reporter or Reporter()
    if not record:
        return None, side_by_side(variant, input_size, home, config, reporter=rep, **kwargs)
    store = Store(home.db)
    with store.run(f"bench --compare-backends {variant}", cancelled=lambda: rep.cancelled) as run:
        sbs = side_by_side(variant, input_size, home, config, reporter=rep, **kwargs)
        record_side_by_side(run, sbs)
    return run.id, sbs
