"""The one pipeline: profile → model → export → build → evaluate → benchmark → record.

Both front ends call :func:`run_profile` and render the events it emits; nothing here
prints. Each stage is a small function taking a :class:`RunContext`, so a stage can be
tested (or reused by a CLI subcommand) on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.events import Failed, Reporter, RunFinished, RunStarted
from workbench.home import Home
from workbench.stages import STAGE_FUNCS, STAGES, RunContext, build_recipes, run_stages, stage_bench
from workbench.store import Run, Store

if TYPE_CHECKING:  # pragma: no cover
    from workbench.bench import BenchConfig, BenchResult
    from workbench.build import BuildRecipe
    from workbench.profile import Profile

__all__ = ["STAGES", "STAGE_FUNCS", "RunContext", "bench_profile", "build_profile", "run_profile", "run_record"]


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

    def out_dir_of(run_id: int) -> Path:
        return Path(profile.output.dir) / f"run-{run_id}" if profile.output.dir else home.runs / str(run_id)

    run: Run | None = None
    try:
        with store.run(name, profile_path=profile_path, profile_json=profile.canonical_json(),
                       profile_hash=profile.content_hash(), out_dir=out_dir_of,
                       cancelled=lambda: reporter.cancelled) as run:
            assert run.out_dir is not None
            ctx = RunContext(profile, home, store, reporter, run.id, run.out_dir)
            run.summarize = lambda r: run_record(ctx, store, r.status, r.error, r.seconds)
            reporter.emit(RunStarted("run", run.id, profile_path, STAGES))
            run_stages(ctx, STAGES)
    except BaseException as exc:
        if run is not None:
            code = getattr(exc, "exit_code", 130 if run.status == "interrupted" else 1)
            reporter.emit(Failed("run", run.error, code))
            reporter.emit(RunFinished("run", run.id, run.status, round(run.seconds, 3), run.summary))
        raise
    record = run.summary
    reporter.emit(RunFinished("run", run.id, run.status, record["seconds"], record))
    return record


@contextmanager
def _prepared(profile: Profile, home: Home, rep: Reporter, name: str, profile_path: str = "",
              recipes: list[BuildRecipe] | None = None, out_dir: bool = True) -> Iterator[tuple[Run, RunContext]]:
    """A run of ``profile``'s model, export, data and build stages: what ``build`` and
    ``bench --profile`` do before (or instead of) their own step."""
    store = Store(home.db)
    with store.run(name, profile_path=profile_path, profile_json=profile.canonical_json(),
                   profile_hash=profile.content_hash(), cancelled=lambda: rep.cancelled,
                   out_dir=(lambda rid: home.runs / str(rid)) if out_dir else None) as run:
        ctx = RunContext(profile, home, store, rep, run.id, home.runs / str(run.id), recipes=recipes or [])
        run_stages(ctx)
        yield run, ctx


def build_profile(profile: Profile, home: Home, reporter: Reporter | None = None) -> dict[str, Any]:
    """``hrnet-wb build``: a profile (reference off) run up to its build stage, recorded as
    a run. Returns the last build's record (meta, accuracy-budget search, store key). Its
    recipes are made before the run, so a recipe this machine cannot build records none."""
    rep = reporter or Reporter()
    recipes = build_recipes(profile)
    with _prepared(profile, home, rep, f"build {profile.name}", recipes=recipes, out_dir=False) as (run, ctx):
        art = ctx.artifacts[-1]
        record = {"ok": True, "name": art.name, "key": art.key, "path": str(art.path),
                  "dir": str(art.dir), "backend": art.backend, "dtype": art.dtype,
                  "cached": art.cached, "meta": art.meta, "accuracy_budget": ctx.budget}
        run.summary = {k: record[k] for k in ("name", "key", "path", "backend", "dtype", "cached")}
    return record


def bench_profile(profile: Profile, home: Home, config: BenchConfig | None = None, *,
                  profile_path: str = "", reporter: Reporter | None = None) -> tuple[int, list[BenchResult]]:
    """``hrnet-wb bench --profile``: the pipeline's model, export, data, build and bench
    stages (builds are cache hits after ``hrnet-wb run``), evaluation skipped. ``config`` is
    the profile's ``[bench]`` with the command's flags applied (default: the profile's).
    Returns the store's run id and the results."""
    rep = reporter or Reporter()
    with _prepared(profile, home, rep, f"bench {profile.name or 'profile'}", profile_path) as (run, ctx):
        results = stage_bench(ctx, config)
        run.summary = {
            "bench": {r.label: {k: v for k, (v, _u) in r.headline().items()} for r in results}}
    return run.id, results


def run_record(ctx: RunContext, store: Store, status: str, error: str, seconds: float) -> dict[str, Any]:
    """The one final record a run produces (printed by ``--json``, stored in ``runs``)."""
    from workbench.bench.baseline import BASELINE_LABEL

    lm = ctx.loaded
    ran: dict[str, dict[str, Any]] = {}
    for r in store.runtime(ctx.run_id):
        ran.setdefault(r["build"], {})[r["stage"]] = r["settings"]
    machine = store.machine(ctx.run_id) or {}
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
            "catalogue_key": lm.catalogue_key if lm else "",
            "input_size": list(ctx.profile.model.input_size),
        },
        "weights": lm.weights if lm else ctx.profile.model.weights,
        "export": None if ctx.exported is None or ctx.profile.model.onnx else {
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
        "baseline": ctx.results.get(BASELINE_LABEL),
        "reproduction": dict(ctx.reproduction),
        "stage_seconds": dict(ctx.stage_seconds),
    }
