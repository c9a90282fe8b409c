"""The one pipeline: profile → model → export → build → evaluate → benchmark → record.

Both front ends call :func:`run_profile` and render the events it emits; nothing here
prints. Each stage is a small function taking a :class:`RunContext`, so a stage can be
tested (or reused by a CLI subcommand) on its own.
"""

from __future__ import annotations

import hashlib
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import BadInput, Cancelled, WorkbenchError
from workbench.events import Failed, Reporter, RunFinished, RunStarted, StageTimer
from workbench.home import Home
from workbench.store import Store

if TYPE_CHECKING:  # pragma: no cover
    from workbench.build import Artifact
    from workbench.data import Dataset, Sample
    from workbench.data.preprocess import Preprocessor
    from workbench.export import ExportResult
    from workbench.profile import Profile
    from workbench.sources import LoadedModel

STAGES = ("model", "export", "data", "build", "eval", "bench")


@dataclass
class RunContext:
    """Everything the stages share during one run; filled in as stages complete."""

    profile: Profile
    home: Home
    store: Store
    reporter: Reporter
    run_id: int
    out_dir: Path
    loaded: LoadedModel | None = None
    exported: ExportResult | None = None
    dataset: Dataset | None = None
    eval_samples: list[Sample] = field(default_factory=list)
    calibration: Any = None
    preprocessor: Preprocessor | None = None
    artifacts: list[Artifact] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def record_metric(self, build: str, name: str, value: float | None, unit: str = "",
                      artifact_key: str = "", params: dict[str, Any] | None = None) -> None:
        """Store a metric and emit it; ``None`` values (e.g. no labels) are skipped."""
        if value is None:
            return
        self.store.add_metric(self.run_id, build, name, float(value), unit, artifact_key, params)
        if params is None:
            self.results.setdefault(build, {})[name] = float(value)
            self.reporter.metric(build, name, float(value), unit)


# -- stages ---------------------------------------------------------------------------


def stage_model(ctx: RunContext) -> None:
    from workbench.sources import ModelSpec, load_model

    m = ctx.profile.model
    rep = ctx.reporter.stage("model")
    with StageTimer(rep, f"load {m.source}:{m.variant}") as st:
        ctx.loaded = load_model(
            ModelSpec(source=m.source, variant=m.variant, weights=m.weights, config=m.config), rep
        )
        if ctx.loaded.weights == "random-init":
            rep.log("RANDOM-INIT WEIGHTS: accuracy figures of this run are meaningless; "
                    "set [model].weights to a checkpoint for real ones", "warning")
        st.summary = {"variant": ctx.loaded.variant, "weights": ctx.loaded.weights}


def _export_path(ctx: RunContext) -> Path:
    assert ctx.loaded is not None
    e, (h, w) = ctx.profile.export, ctx.profile.model.input_size
    key = hashlib.sha256(
        f"{ctx.loaded.weights_id}|{e.opset}|{e.dynamic_batch}|{h}x{w}".encode()
    ).hexdigest()[:12]
    return ctx.home.cache / "exports" / f"{ctx.loaded.variant}-{h}x{w}-op{e.opset}-{key}.onnx"


def stage_export(ctx: RunContext) -> None:
    """Export once per (weights, opset, batch mode, size); a later run reuses the checked file."""
    import numpy as np

    from workbench.export import export_onnx, read_export_metadata

    assert ctx.loaded is not None
    e, size = ctx.profile.export, ctx.profile.model.input_size
    rep = ctx.reporter.stage("export")
    with StageTimer(rep, f"ONNX opset {e.opset}") as st:
        path = _export_path(ctx)
        cached = read_export_metadata(path)
        if (cached is not None and cached.opset == e.opset and cached.dynamic_batch == e.dynamic_batch
                and tuple(cached.input_size) == tuple(size) and cached.parity_max_abs <= e.parity_tolerance):
            ctx.exported = cached
            rep.artifact("onnx", str(path), cached=True)
            rep.log(f"reusing {path.name} (parity max abs {cached.parity_max_abs:.2e})")
        else:
            parity = _parity_inputs(ctx, e.parity_images)
            if parity is None:
                parity = np.random.default_rng(0).standard_normal((e.parity_images, 3, *size)).astype("float32")
            ctx.exported = export_onnx(
                ctx.loaded.model, path, size, opset=e.opset, dynamic_batch=e.dynamic_batch,
                parity_inputs=parity, tolerance=e.parity_tolerance, reporter=rep,
            )
        st.summary = {"parity_max_abs": ctx.exported.parity_max_abs,
                      "parity_cosine": ctx.exported.parity_cosine}


def _parity_inputs(ctx: RunContext, n: int) -> Any:
    """Real images for the parity check when the profile has data; else None."""
    if not ctx.profile.data.path:
        return None
    import numpy as np

    from workbench.data import DecodeError, open_dataset

    _ensure_preprocessor(ctx)
    assert ctx.preprocessor is not None
    d = ctx.profile.data
    ds = open_dataset(d.path, layout=d.layout, labels=d.labels)
    arrays = []
    for s in ds.samples:
        try:
            arrays.append(ctx.preprocessor.load(s.path))
        except DecodeError:
            continue
        if len(arrays) >= n:
            break
    return np.stack(arrays) if arrays else None


def _ensure_preprocessor(ctx: RunContext) -> None:
    if ctx.preprocessor is not None:
        return
    from workbench.data.preprocess import Preprocessor, preset_for

    assert ctx.loaded is not None
    m = ctx.profile.model
    cfg = preset_for(source=ctx.loaded.source, variant=ctx.loaded.variant,
                     pretrained_tag=ctx.loaded.pretrained_tag, input_size=m.input_size,
                     name=m.preprocess if m.preprocess != "auto" else (ctx.loaded.preprocess or "auto"))
    ctx.preprocessor = Preprocessor(cfg)


def _needs_calibration(profile: Profile) -> bool:
    return profile.build.dtype == "int8"


def stage_data(ctx: RunContext) -> None:
    """Open the dataset and split off calibration images, so evaluation never sees them."""
    d, b = ctx.profile.data, ctx.profile.build
    rep = ctx.reporter.stage("data")
    with StageTimer(rep, "dataset and calibration set") as st:
        _ensure_preprocessor(ctx)
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
                calib_ids = {s.id for s in ctx.calibration.samples}
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


def build_recipes(profile: Profile) -> list[Any]:
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


def stage_build(ctx: RunContext) -> None:
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
                source=ctx.loaded.source, weights=ctx.loaded.weights,
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


def stage_eval(ctx: RunContext) -> None:
    from workbench.evaluate import evaluate
    from workbench.runtime import open_predictor
    from workbench.runtime_settings import effective_settings

    if not ctx.eval_samples:
        return
    assert ctx.dataset is not None and ctx.preprocessor is not None
    rep = ctx.reporter.stage("eval")
    d = ctx.profile.data
    with StageTimer(rep, f"{len(ctx.eval_samples)} images × {len(ctx.artifacts)} build(s)") as st:
        for art in ctx.artifacts:
            rep.check_cancelled()
            threads = ctx.profile.bench.threads[0] if ctx.profile.bench.threads else 0
            predictor = open_predictor(art.path, art.backend, threads)
            res = evaluate(
                predictor, ctx.eval_samples, ctx.preprocessor, ctx.dataset.class_names,
                ctx.out_dir / art.name, batch_size=d.batch_size, resume=False, reporter=rep,
                vastai_txt=ctx.profile.output.vastai_txt,
            )
            ctx.record_metric(art.name, "top1", None if res.top1 is None else 100 * res.top1, "%", art.key)
            ctx.record_metric(art.name, "top5", None if res.top5 is None else 100 * res.top5, "%", art.key)
            ctx.record_metric(art.name, "images", res.n, "", art.key)
            ctx.record_metric(art.name, "skipped", res.skipped, "", art.key)
            ctx.record_metric(art.name, "eval_img_s", res.images_per_s, "img/s", art.key)
            settings = effective_settings(predictor)
            ctx.store.add_runtime(ctx.run_id, art.name, settings, art.key, "eval")
            st.summary[art.name] = {"top1": res.top1, "top5": res.top5, "skipped": res.skipped,
                                    "precision": (settings or {}).get("compute_precision")}


def stage_bench(ctx: RunContext) -> None:
    """Every build and torch eager in one interleaved grid, placed on the roofline, recorded."""
    from workbench.bench import BASELINE_LABEL, BenchConfig, register_baseline
    from workbench.bench.bench_run import BuildToMeasure, measure_builds
    from workbench.bench.record import GRID_METRICS, runtime_record

    b = ctx.profile.bench
    if not b.enabled:
        return
    assert ctx.loaded is not None
    rep = ctx.reporter.stage("bench")
    cfg = BenchConfig(batch_sizes=list(b.batch_sizes), streams=list(b.streams),
                      threads=list(b.threads), warmup=b.warmup, iterations=b.iterations,
                      duration_s=b.duration_s, rounds=b.rounds,
                      latency_budget_ms=b.latency_budget_ms)
    size = ctx.profile.model.input_size
    builds = [BuildToMeasure(a.name, str(a.path), a.backend, a.key) for a in ctx.artifacts]
    keys = {x.name: x.key for x in builds}
    if b.baseline:
        keys[BASELINE_LABEL] = register_baseline(ctx.store, ctx.loaded, size)
    with StageTimer(rep, f"{len(builds) + int(b.baseline)} target(s)") as st:
        results = measure_builds(builds, size, cfg, ctx.home,
                                 model=ctx.loaded.model if b.baseline else None, reporter=rep)
        for res in results:
            key = keys.get(res.label, "")
            for row in res.rows:
                params = {"batch": row.batch, "streams": row.streams, "threads": row.threads}
                for metric, unit in GRID_METRICS:
                    ctx.record_metric(res.label, metric, getattr(row, metric), unit, key, params)
            heads = res.headline()
            for metric, (value, unit) in heads.items():
                ctx.record_metric(res.label, metric, value, unit, key)
            ctx.store.add_runtime(ctx.run_id, res.label, runtime_record(res), key, "bench")
            st.summary[res.label] = {k: v for k, (v, _u) in heads.items()}
            st.summary[res.label]["precision"] = res.precision


STAGE_FUNCS = {"model": stage_model, "export": stage_export, "data": stage_data,
               "build": stage_build, "eval": stage_eval, "bench": stage_bench}


# -- the run ---------------------------------------------------------------------------


def run_profile(profile: Profile, home: Home, reporter: Reporter | None = None,
                profile_path: str = "") -> dict[str, Any]:
    """Run every stage of ``profile``, record it in the store, return the final record.

    Errors are recorded (status failed / cancelled / interrupted) and re-raised, so the
    caller decides how to show them; nothing half-written is left behind because every
    stage writes atomically.
    """
    reporter = reporter or Reporter()
    store = Store(home.db)
    name = profile.name or Path(profile_path).stem or "run"
    run_id = store.start_run(name, profile_path, profile.canonical_json(), profile.content_hash())
    out_dir = Path(profile.output.dir) / f"run-{run_id}" if profile.output.dir else home.runs / str(run_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    store.set_out_dir(run_id, str(out_dir))
    ctx = RunContext(profile, home, store, reporter, run_id, out_dir)
    reporter.emit(RunStarted("run", run_id, profile_path, STAGES))
    t0 = time.perf_counter()
    status, error = "ok", ""
    exc_out: BaseException | None = None
    try:
        for stage in STAGES:
            reporter.check_cancelled()
            ts = time.perf_counter()
            STAGE_FUNCS[stage](ctx)
            ctx.stage_seconds[stage] = round(time.perf_counter() - ts, 3)
    except Cancelled as exc:
        status, error, exc_out = "cancelled", str(exc), exc
    except KeyboardInterrupt as exc:
        if reporter.cancelled:  # the TUI interrupts a native call that outlives its cancel
            status, error, exc_out = "cancelled", "cancelled by the user", Cancelled("cancelled by the user")
        else:
            status, error, exc_out = "interrupted", "interrupted (Ctrl-C)", exc
    except WorkbenchError as exc:
        status, error, exc_out = "failed", str(exc), exc
    except Exception as exc:  # an internal error: keep the traceback in the store
        status, error, exc_out = "failed", f"{type(exc).__name__}: {exc}", exc
        (out_dir / "traceback.txt").write_text(traceback.format_exc())
    record = run_record(ctx, status, error, time.perf_counter() - t0)
    store.finish_run(run_id, status, error, record)
    if exc_out is not None:
        code = getattr(exc_out, "exit_code", 130 if status == "interrupted" else 1)
        reporter.emit(Failed("run", error, code))
    reporter.emit(RunFinished("run", run_id, status, record["seconds"], record))
    if exc_out is not None:
        raise exc_out
    return record


def run_record(ctx: RunContext, status: str, error: str, seconds: float) -> dict[str, Any]:
    """The one final record a run produces (printed by ``--json``, stored in ``runs``)."""
    lm = ctx.loaded
    ran: dict[str, dict[str, Any]] = {}
    for r in ctx.store.runtime(ctx.run_id):
        ran.setdefault(r["build"], {})[r["stage"]] = r["settings"]
    machine = ctx.store.machine(ctx.run_id) or {}
    return {
        "ok": status == "ok",
        "run_id": ctx.run_id,
        "name": ctx.profile.name,
        "status": status,
        "error": error,
        "seconds": round(seconds, 3),
        "out_dir": str(ctx.out_dir),
        "model": {
            "source": lm.source if lm else ctx.profile.model.source,
            "variant": lm.variant if lm else ctx.profile.model.variant,
            "weights": lm.weights if lm else ctx.profile.model.weights,
            "input_size": list(ctx.profile.model.input_size),
        },
        "weights": lm.weights if lm else ctx.profile.model.weights,
        "export": None if ctx.exported is None else {
            "path": str(ctx.exported.path), "opset": ctx.exported.opset,
            "parity_max_abs": ctx.exported.parity_max_abs, "parity_cosine": ctx.exported.parity_cosine,
        },
        "builds": [
            {"name": a.name, "key": a.key, "backend": a.backend, "dtype": a.dtype,
             "path": str(a.path), "cached": a.cached, "metrics": ctx.results.get(a.name, {}),
             "runtime": ran.get(a.name, {})}
            for a in ctx.artifacts
        ],
        "fingerprint": machine.get("fingerprint", ""),
        "baseline": ctx.results.get("torch-eager-fp32"),
        "stage_seconds": dict(ctx.stage_seconds),
    }
