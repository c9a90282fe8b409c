"""One row of the sweep: load → export → data → build every recipe → evaluate → (bench).

:func:`compute_row` does the work and writes no store: on the local engine it runs in this
process against the home; on Ray it runs as a task on some node against a node-local
home, and its outcome (figures, result files, artifact files) travels back to the driver.
:func:`record_row` is the driver's half: it alone writes the store, so both engines record
a row the same way. It calls the pipeline's own stages (model, export, data) and the
public build, evaluate and bench functions; nothing here re-implements them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.events import Reporter
from workbench.home import Home
from workbench.sweep.plan import RowSpec, SweepProfile

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

    @property
    def random_init(self) -> bool:
        return self.weights == "random-init"


def _row_profile(plan: SweepProfile, row: RowSpec, calib_count: int, out_dir: Path) -> Any:
    from workbench.profile import (
        BuildSection,
        CalibrationSection,
        ModelSection,
        OutputSection,
        Profile,
    )

    int8 = any(b.dtype == "int8" for b in plan.builds)
    calib = CalibrationSection(**{**plan.calibration.model_dump(), "count": calib_count})
    return Profile(
        name=f"sweep {row.id}",
        model=ModelSection(source=row.source, variant=row.variant, weights=row.weights,  # type: ignore[arg-type]
                           input_size=plan.models.input_size),
        export=plan.export, data=plan.data, bench=plan.bench,
        build=BuildSection(backend=plan.builds[0].backend, dtype="int8" if int8 else "fp32",
                           reference=False, calibration=calib),
        output=OutputSection(dir=str(out_dir), vastai_txt=plan.output.vastai_txt),
    )


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


def compute_row(plan: SweepProfile, row: RowSpec, home: Home, out_dir: Path, *,
                reporter: Reporter | None = None, threads: int = 0, bench: bool = True,
                carry_files: bool = False) -> RowOutcome:
    """Build and evaluate every build of one row (and bench them when ``bench``).

    ``carry_files`` puts each build's eval files into the outcome (Ray: the driver writes
    them); otherwise they stay in ``out_dir/<artifact name>/``.
    """
    from workbench.backends import open_predictor
    from workbench.build import BuildRecipe, CalibrationSpec, build_artifact
    from workbench.engines.node import node_fingerprint
    from workbench.evaluate import compare_results, evaluate
    from workbench.stages import RunContext, stage_data, stage_export, stage_model
    from workbench.store import Store

    rep = reporter or Reporter()
    t0 = time.perf_counter()
    count, note = calibration_count(plan, rep)
    notes = [note] if note else []
    prof = _row_profile(plan, row, count, out_dir)
    ctx = RunContext(prof, home, Store(home.db), rep, 0, out_dir)
    stage_model(ctx)
    stage_export(ctx)
    stage_data(ctx)
    assert ctx.loaded is not None and ctx.exported is not None
    if ctx.loaded.weights == "random-init":
        notes.append("random-init weights: accuracy figures are meaningless")
    c = plan.calibration
    builds: list[BuildOutcome] = []
    brep = rep.stage("build")
    for b in plan.builds:
        brep.check_cancelled()
        recipe = BuildRecipe(
            backend=b.backend, dtype=b.dtype,
            calibration=CalibrationSpec(method=b.calibration, count=count, percentile=c.percentile,
                                        seed=c.seed) if b.dtype == "int8" else None)
        art = build_artifact(
            ctx.exported.path, recipe, model_name=ctx.loaded.variant, input_size=plan.models.input_size,
            weights_id=ctx.loaded.weights_id,
            export_settings={"opset": plan.export.opset, "dynamic_batch": plan.export.dynamic_batch},
            calibration=ctx.calibration if b.dtype == "int8" else None, preprocessor=ctx.preprocessor,
            home=home, reporter=brep, source=ctx.loaded.source, weights=ctx.loaded.weights,
            model=ctx.loaded.model)
        brep.log(f"{art.name}: {'cache hit' if art.cached else 'built'}")
        builds.append(BuildOutcome(b.label, art.name, art.key, art.backend, art.dtype,
                                   b.calibration if b.dtype == "int8" else "", str(Path(art.path).parent),
                                   dict(art.meta), art.cached))
    erep = rep.stage("eval")
    if ctx.eval_samples:
        assert ctx.dataset is not None and ctx.preprocessor is not None
        for bo in builds:
            erep.check_cancelled()
            path = Path(bo.artifact_dir) / bo.meta["file"]
            predictor = open_predictor(path, bo.backend, threads)
            res = evaluate(predictor, ctx.eval_samples, ctx.preprocessor, ctx.dataset.class_names,
                           out_dir / bo.name, batch_size=plan.data.batch_size, reporter=erep,
                           vastai_txt=plan.output.vastai_txt,
                           meta={"artifact": bo.name, "artifact_key": bo.key, "row": row.id})
            bo.eval = {k: res.as_dict()[k] for k in ("top1", "top5", "n", "labelled", "skipped",
                                                     "top1_ci95", "top5_ci95", "images_per_s")}
    agreement = None
    fp32 = next((x for x in builds if x.dtype == "fp32" and x.eval), None)
    int8 = next((x for x in builds if x.dtype == "int8" and x.eval), None)
    if fp32 is not None and int8 is not None and fp32.eval and fp32.eval["n"] and int8.eval and int8.eval["n"]:
        agreement = float(compare_results(out_dir / fp32.name / "results.jsonl",
                                          out_dir / int8.name / "results.jsonl")["agreement"])
    if carry_files:
        for bo in builds:
            d = out_dir / bo.name
            bo.files = {n: (d / n).read_bytes() for n in EVAL_FILES if (d / n).is_file()}
    outcome = RowOutcome(row.as_dict(), ctx.loaded.weights, ctx.loaded.weights_id,
                         len(ctx.calibration.samples) if ctx.calibration is not None else 0,
                         len(ctx.eval_samples), builds, agreement, node_fingerprint(),
                         0.0, notes)
    if bench and plan.bench.enabled:
        bench_builds(plan, outcome, home, rep)
    outcome.seconds = round(time.perf_counter() - t0, 3)
    return outcome


def bench_config(plan: SweepProfile) -> Any:
    from workbench.bench import BenchConfig

    b = plan.bench
    return BenchConfig(batch_sizes=list(b.batch_sizes), streams=list(b.streams), threads=list(b.threads),
                       warmup=b.warmup, iterations=b.iterations, duration_s=b.duration_s,
                       rounds=b.rounds, latency_budget_ms=b.latency_budget_ms)


def bench_builds(plan: SweepProfile, outcome: RowOutcome, home: Home, reporter: Reporter,
                 artifact_dirs: dict[str, Path] | None = None) -> None:
    """Every build of the row in one interleaved grid; headline figures into the outcome."""
    from workbench.bench.bench_run import BuildToMeasure, measure_builds
    from workbench.engines.node import node_fingerprint

    rep = reporter.stage("bench")
    dirs = artifact_dirs or {b.name: Path(b.artifact_dir) for b in outcome.builds}
    targets = [BuildToMeasure(b.name, str(dirs[b.name] / b.meta["file"]), b.backend, b.key)
               for b in outcome.builds]
    results = {r.label: r for r in measure_builds(targets, plan.models.input_size, bench_config(plan),
                                                  home, reporter=rep)}
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


def record_row(store: Any, run_id: int, outcome: RowOutcome, out_dir: Path) -> None:
    """The driver writes one finished row into the store: artifacts, accuracy, speed."""
    row = outcome.row
    for b in outcome.builds:
        size = b.meta.get("input_size") or [0, 0]
        store.add_artifact(b.key, b.name, "artifact", str(Path(b.artifact_dir) / b.meta["file"]),
                           source=row["source"], variant=row["variant"], weights=outcome.weights,
                           backend=b.backend, dtype=b.dtype, calibration=b.calibration,
                           input_size=f"{size[0]}x{size[1]}", meta=b.meta)
        figures: list[tuple[str, float | None, str]] = [
            ("size_mb", b.meta.get("file_mb"), "MiB")]
        if b.eval:
            e = b.eval
            figures += [("top1", e["top1"], "fraction"), ("top5", e["top5"], "fraction"),
                        ("images", e["n"], ""), ("skipped", e["skipped"], ""),
                        ("eval_img_s", e["images_per_s"], "img/s")]
        if b.dtype == "int8" and outcome.agreement is not None:
            figures.append(("top1_agreement", outcome.agreement, "fraction"))
        for name, value, unit in figures:
            if value is not None:
                store.add_metric(run_id, b.name, name, float(value), unit, b.key)
        for r in b.bench_rows:
            params = {"batch": r["batch"], "streams": r["streams"], "threads": r["threads"]}
            for metric, unit in (("p50_ms", "ms"), ("p99_ms", "ms"), ("throughput", "img/s")):
                store.add_metric(run_id, b.name, metric, float(r[metric]), unit, b.key, params)
        for name, value in (b.bench or {}).items():
            if value is not None and name not in ("size_mb",):
                store.add_metric(run_id, b.name, name, float(value), "", b.key)


def outcome_json(outcome: RowOutcome) -> dict[str, Any]:
    d = asdict(outcome)
    for b in d["builds"]:
        b.pop("files", None)
        b.pop("payload", None)
    return d


def outcome_from_json(d: dict[str, Any]) -> RowOutcome:
    builds = [BuildOutcome(**b) for b in d.pop("builds")]
    return RowOutcome(builds=builds, **d)


def check_builds(plan: SweepProfile) -> None:
    """Fail before any work when a build's backend cannot run here (named, never faked)."""
    from workbench.backends import backend_status

    for b in plan.builds:
        st = backend_status(b.backend)
        if st is None or not st.available:
            why = "unknown backend" if st is None else st.reason
            raise BadInput(f"[[builds]] {b.label}: backend {b.backend} is not available here ({why})")

