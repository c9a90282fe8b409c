"""What every stage shares during one run: the typed :class:`RunContext`, filled in as
stages complete, and the one place a run's preprocessing is decided."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.events import Reporter
from workbench.home import Home
from workbench.store import RunWrites

if TYPE_CHECKING:  # pragma: no cover
    from workbench.build import Artifact, BuildRecipe, CalibrationSet
    from workbench.data import Dataset, Sample
    from workbench.data.preprocess import Preprocessor
    from workbench.export import ExportResult
    from workbench.profile import CalibrationSection, Profile
    from workbench.sources import LoadedModel

STAGES = ("model", "export", "data", "build", "eval", "bench")


@dataclass
class RunContext:
    """Everything the stages share during one run; filled in as stages complete.

    ``store`` is the home's store, or :class:`~workbench.store.PendingWrites` where the stages run away from
    it (a sweep row on a Ray node). ``recipes`` are the builds: the profile's
    (:func:`workbench.stages.build_recipes`) unless a caller gives its own list (a sweep row's).
    """

    profile: Profile
    home: Home
    store: RunWrites
    reporter: Reporter
    run_id: int
    out_dir: Path
    loaded: LoadedModel | None = None
    exported: ExportResult | None = None
    dataset: Dataset | None = None
    eval_samples: list[Sample] = field(default_factory=list)
    calibration: CalibrationSet | None = None
    preprocessor: Preprocessor | None = None
    artifacts: list[Artifact] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    reproduction: dict[str, dict[str, Any]] = field(default_factory=dict)  # build → published vs measured
    data_identity: dict[str, str] = field(default_factory=dict)
    calibration_excluded: int = 0
    holdout: list[Sample] = field(default_factory=list)  # calibration pool minus calibration
    budget: dict[str, Any] | None = None  # what the accuracy-budget search did
    recipes: list[BuildRecipe] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.recipes:
            self.recipes = build_recipes(self.profile)

    def record_metric(self, build: str, name: str, value: float | None, unit: str = "",
                      artifact_key: str = "", params: dict[str, Any] | None = None) -> None:
        """Store a metric and emit it; ``None`` values (e.g. no labels) are skipped."""
        if value is None:
            return
        self.store.add_metric(self.run_id, build, name, float(value), unit, artifact_key, params)
        if params is None:
            self.show(build, {name: (value, unit)})

    def show(self, build: str, figures: Mapping[str, tuple[float | None, str]],
             as_float: bool = True) -> None:
        """Emit figures already in the store and keep them for the run's record (counts stay
        ints with ``as_float=False``: the eval's image counts)."""
        for name, (value, unit) in figures.items():
            if value is not None:
                self.results.setdefault(build, {})[name] = float(value) if as_float else value
                self.reporter.metric(build, name, float(value), unit)


def make_recipe(backend: str, dtype: str, calibration: CalibrationSection, target: str = "auto",
                exclude_nodes: list[str] | tuple[str, ...] = ()) -> BuildRecipe:
    """The one way a profile section (or a sweep build) becomes a :class:`BuildRecipe`."""
    from workbench.build import BuildRecipe, CalibrationSpec

    c = calibration
    spec = (CalibrationSpec(method=c.method, count=c.count, percentile=c.percentile, seed=c.seed)
            if dtype == "int8" else None)
    return BuildRecipe(backend=backend, dtype=dtype, calibration=spec,
                       exclude_nodes=tuple(exclude_nodes), target=target)


def build_recipes(profile: Profile) -> list[BuildRecipe]:
    """The builds a profile asks for: the target, preceded by an fp32 reference if wanted."""
    b = profile.build
    recipes = [make_recipe(b.backend, b.dtype, b.calibration, b.target, b.exclude_nodes)]
    if b.reference and b.dtype != "fp32":
        recipes.insert(0, make_recipe(b.backend, "fp32", b.calibration))
    return recipes


def ensure_preprocessor(ctx: RunContext) -> Preprocessor:
    """The run's preprocessing: the profile's preset, else the one the model's weights carry."""
    if ctx.preprocessor is not None:
        return ctx.preprocessor
    from workbench.data.preprocess import resolve_preprocessor

    assert ctx.loaded is not None
    m = ctx.profile.model
    ctx.preprocessor = resolve_preprocessor(
        source=ctx.loaded.source, variant=ctx.loaded.variant,
        pretrained_tag=ctx.loaded.pretrained_tag, input_size=m.input_size, name=m.preprocess,
        model_default=ctx.loaded.preprocess or "")
    return ctx.preprocessor
