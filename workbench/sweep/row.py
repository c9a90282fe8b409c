"""One row of the sweep: a profile with the row's overrides, run through the pipeline's stages.

:func:`compute_row` runs the stages (model, export, data, build for every sweep build, eval,
then bench) against a :class:`~workbench.store.PendingWrites` instead of the store: on the
local engine in this process, on Ray as a task on some node against a node-local home. The
outcome (figures for the zoo table, the stages' store writes, result and artifact files)
travels back to the driver, and :func:`record_row` replays the writes under the row's run,
so a sweep row has the same store rows as ``hrnet-wb run`` (artifacts, metrics, evals,
runtime settings), whichever engine ran it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import BadInput
from workbench.events import Reporter
from workbench.home import Home
from workbench.store import PendingWrites
from workbench.sweep.plan import RowSpec, SweepProfile

if TYPE_CHECKING:  # pragma: no cover
    from workbench.build import BuildRecipe
    from workbench.profile import Profile

EVAL_FILES = ("results.jsonl", "results.txt", "eval_report.json", "eval_config.json")


@dataclass
class BuildOutcome:
    """One build of one row: the artifact, its accuracy, its speed."""

    label: str  # the sweep build label, e.g. "int8-percentile-ort-cpu"
    name: str
    key: str
    backend: str
    dtype: str
    calibration: str
    artifact_dir: str  # where it lies on the node that built it
    meta: dict[str, Any]
    cached: bool
    eval: dict[str, Any] | None = None  # top1/top5 fractions, n, skipped, img/s, CIs
    bench: dict[str, Any] | None = None  # headline figures
    bench_rows: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, bytes] | None = None  # eval output files (Ray: carried to the driver)
    payload: Any = None  # Ray: the artifact's files in the object store


@dataclass
class RowOutcome:
    row: dict[str, Any]
    weights: str
    weights_id: str
    calibration_images: int
    eval_images: int
    builds: list[BuildOutcome]
    agreement: float | None
    node: dict[str, Any]
    seconds: float
    notes: list[str] = field(default_factory=list)
    bench_node: dict[str, Any] | None = None
    writes: PendingWrites = field(default_factory=PendingWrites)  # the stages' store rows

    @property
    def random_init(self) -> bool:
        return self.weights == "random-init"


def row_profile(plan: SweepProfile, row: RowSpec, calib_count: int, out_dir: Path,
                threads: int = 0) -> Profile:
    """The row as a profile: the sweep's sections, the row's model, the capped calibration
    count and the engine's eval threads. Its ``[build]`` is the sweep's first build; the
    row's builds are :func:`row_recipes`. Torch eager is never measured in a sweep."""
    from workbench.profile import BuildSection, ModelSection, OutputSection, Profile

    first = plan.builds[0]
    calib = plan.calibration.model_copy(update={"count": calib_count, "method": first.calibration})
    return Profile(
        name=f"sweep {row.id}",
        model=ModelSection(source=row.source, variant=row.variant, weights=row.weights,  # type: ignore[arg-type]
                           input_size=plan.models.input_size),
        export=plan.export, data=plan.data.model_copy(update={"threads": threads}) if threads else plan.data,
        bench=plan.bench.model_copy(update={"baseline": False}),
        build=BuildSection(backend=first.backend, dtype=first.dtype, reference=False, calibration=calib),
        output=OutputSection(dir=str(out_dir), vastai_txt=plan.output.vastai_txt),
    )


def row_recipes(plan: SweepProfile, profile: Profile) -> list[BuildRecipe]:
    from workbench.stages.build import make_recipe

    c = profile.build.calibration
    return [make_recipe(b.backend, b.dtype, c.model_copy(update={"method": b.calibration}))
            for b in plan.builds]


def calibration_count(plan: SweepProfile, reporter: Reporter) -> tuple[int, str]:
    """The profile's count, capped to half the data when calibration comes from the data
    itself, so a small dataset (the bundled 13 images) still leaves images to evaluate."""
    c = plan.calibration
    if c.data or not plan.data.path or not any(b.dtype == "int8" for b in plan.builds):
        return c.count, ""
    from workbench.data import open_dataset

    n = len(open_dataset(plan.data.path, layout=plan.data.layout, labels=plan.data.labels).samples)
    cap = max(1, n // 2)
    if c.count <= cap:
        return c.count, ""
    return cap, (f"calibration capped at {cap} of {n} images (half the data) so the rest can be "
                 "evaluated; give [calibration].data for a separate calibration set")


def _row_spec(row: dict[str, Any]) -> RowSpec:
    return RowSpec(row["source"], row["variant"], row["name"], row["weights"])


def compute_row(plan: SweepProfile, row: RowSpec, home: Home, out_dir: Path, *,
                reporter: Reporter | None = None, threads: int = 0, bench: bool = True,
                carry_files: bool = False) -> RowOutcome:
    """Build and evaluate every build of one row (and bench them when ``bench``).

    ``carry_files`` puts each build's eval files into the outcome (Ray: the driver writes
    them); otherwise they stay in ``out_dir/<artifact name>/``.
    """
    from workbench.engines.node import node_fingerprint
    from workbench.evaluate import compare_results
    from workbench.stages import RunContext, run_stages, stage_eval

    rep = reporter or Reporter()
    t0 = time.perf_counter()
    count, note = calibration_count(plan, rep)
    notes = [note] if note else []
    prof = row_profile(plan, row, count, out_dir, threads)
    ctx = RunContext(prof, home, PendingWrites(), rep, 0, out_dir, recipes=row_recipes(plan, prof))
    run_stages(ctx)
    evals = stage_eval(ctx)
    assert ctx.loaded is not None
    if ctx.loaded.weights == "random-init":
        notes.append("random-init weights: accuracy figures are meaningless")
    builds = [BuildOutcome(b.label, art.name, art.key, art.backend, art.dtype,
                           b.calibration if b.dtype == "int8" else "", str(art.dir), dict(art.meta),
                           art.cached)
              for b, art in zip(plan.builds, ctx.artifacts, strict=True)]
    for bo in builds:
        res = evals.get(bo.name)
        if res is not None:
            bo.eval = {k: res.as_dict()[k] for k in ("top1", "top5", "n", "labelled", "skipped",
                                                     "top1_ci95", "top5_ci95", "images_per_s")}
    agreement = None
    fp32 = next((x for x in builds if x.dtype == "fp32" and x.eval and x.eval["n"]), None)
    int8 = next((x for x in builds if x.dtype == "int8" and x.eval and x.eval["n"]), None)
    if fp32 is not None and int8 is not None:
        agreement = float(compare_results(out_dir / fp32.name / "results.jsonl",
                                          out_dir / int8.name / "results.jsonl")["agreement"])
        for b in builds:
            if b.dtype == "int8":
                ctx.record_metric(b.name, "top1_agreement", agreement, "fraction", b.key)
    if carry_files:
        for bo in builds:
            d = out_dir / bo.name
            bo.files = {n: (d / n).read_bytes() for n in EVAL_FILES if (d / n).is_file()}
    assert isinstance(ctx.store, PendingWrites)
    outcome = RowOutcome(row.as_dict(), ctx.loaded.weights, ctx.loaded.weights_id,
                         len(ctx.calibration.samples) if ctx.calibration is not None else 0,
                         len(ctx.eval_samples), builds, agreement, node_fingerprint(),
                         0.0, notes, writes=ctx.store)
    if bench and plan.bench.enabled:
        bench_builds(plan, outcome, home, rep)
    outcome.seconds = round(time.perf_counter() - t0, 3)
    return outcome


def bench_builds(plan: SweepProfile, outcome: RowOutcome, home: Home, reporter: Reporter,
                 artifact_dirs: dict[str, Path] | None = None) -> None:
    """The pipeline's bench stage over the row's builds (every build in one interleaved
    grid); its store writes join the row's, its headline figures go into the outcome."""
    from workbench.build import artifact_from_dir
    from workbench.engines.node import node_fingerprint
    from workbench.stages import RunContext, stage_bench

    dirs = artifact_dirs or {b.name: Path(b.artifact_dir) for b in outcome.builds}
    prof = row_profile(plan, _row_spec(outcome.row), plan.calibration.count, Path("."))
    ctx = RunContext(prof, home, outcome.writes, reporter, 0, Path("."), recipes=row_recipes(plan, prof),
                     artifacts=[artifact_from_dir(dirs[b.name], b.meta) for b in outcome.builds])
    results = {r.label: r for r in stage_bench(ctx)}
    for b in outcome.builds:
        res = results.get(b.name)
        if res is None:
            continue
        b.bench = {k: v for k, (v, _u) in res.headline().items()}
        b.bench_rows = [{"batch": r.batch, "streams": r.streams, "threads": r.threads,
                         "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "throughput": r.throughput}
                        for r in res.rows]
    outcome.bench_node = node_fingerprint()


def install_outcome_files(outcome: RowOutcome, home: Home, out_dir: Path) -> None:
    """Driver side (Ray): write the eval files a row carried, and the artifacts it built,
    into this machine's run folder and artifact cache (atomically; a present one is kept)."""
    from workbench.atomic import atomic_dir, atomic_path

    for b in outcome.builds:
        if b.files:
            d = out_dir / b.name
            d.mkdir(parents=True, exist_ok=True)
            for name, data in b.files.items():
                with atomic_path(d / name) as tmp:
                    Path(tmp).write_bytes(data)
            b.files = None
        if b.payload is not None:
            target = home.artifacts / Path(b.artifact_dir).name
            if not (target / "meta.json").is_file():
                payload = b.payload
                with atomic_dir(target) as tmp:
                    for name, data in payload["files"].items():
                        (Path(tmp) / name).write_bytes(data)
            b.artifact_dir = str(target)
            b.payload = None


def record_row(store: Any, run_id: int, outcome: RowOutcome) -> None:
    """The driver writes one finished row into the store: the stages' own writes, replayed
    under the row's run, with each artifact where this machine holds it."""
    paths = {b.key: str(Path(b.artifact_dir) / b.meta["file"]) for b in outcome.builds}
    outcome.writes.replay(store, run_id, paths)


def outcome_json(outcome: RowOutcome) -> dict[str, Any]:
    d = asdict(outcome)
    d.pop("writes", None)
    for b in d["builds"]:
        b.pop("files", None)
        b.pop("payload", None)
    return d


def check_builds(plan: SweepProfile) -> None:
    """Fail before any work when a build's backend cannot run here (named, never faked)."""
    from workbench.backends import backend_status

    for b in plan.builds:
        st = backend_status(b.backend)
        if st is None or not st.available:
            why = "unknown backend" if st is None else st.reason
            raise BadInput(f"[[builds]] {b.label}: backend {b.backend} is not available here ({why})")

