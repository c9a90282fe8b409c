"""``hrnet-wb sweep``: every row of a sweep profile, resumable and bounded, on either engine.

State lives in the sweep folder (``[output] dir``, default ``<home>/sweeps/<name>``):
``rows/<row>.json`` is written atomically when a row finishes, keyed by everything that
changes its figures (:func:`workbench.sweep.plan.row_key`). A rerun skips the rows whose
state matches, so a sweep killed at any point (``kill -9`` included) continues where it
stopped; the content-hash artifact cache makes the builds of a half-done row free.

``--max-minutes`` bounds the wall time: no row *starts* after the budget is spent (rows in
flight finish); the rest are listed as ``pending`` and the next run picks them up.
Every finished row is a run in the store (its builds, accuracy and speed), so the TUI
leaderboard shows it, and the table is rewritten after every row.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import Cancelled
from workbench.events import Reporter
from workbench.home import Home
from workbench.store import Run, Store
from workbench.sweep.plan import RowSpec, SweepProfile, plan_rows, row_key, select_rows
from workbench.sweep.row import RowOutcome, check_builds, compute_row, outcome_json, record_row
from workbench.sweep.table import placeholder_row, write_table, zoo_row


def sweep_dir(plan: SweepProfile, home: Home) -> Path:
    if plan.output.dir:
        return Path(plan.output.dir)
    return home.root / "sweeps" / (re.sub(r"[^A-Za-z0-9_.-]+", "_", plan.name) or "sweep")


def _state_file(folder: Path, row: RowSpec) -> Path:
    return folder / "rows" / (row.id.replace(":", "__") + ".json")


@dataclass
class SweepState:
    """The sweep folder's per-row records, read once and updated as rows finish."""

    folder: Path
    plan: SweepProfile

    def done(self, row: RowSpec) -> dict[str, Any] | None:
        f = _state_file(self.folder, row)
        if not f.is_file():
            return None
        try:
            st = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        ok = isinstance(st, dict) and st.get("key") == row_key(self.plan, row) and "table_row" in st
        return st if ok else None

    def save(self, row: RowSpec, table_row: dict[str, Any], outcome: RowOutcome) -> None:
        from workbench.atomic import write_json

        write_json(_state_file(self.folder, row), {"key": row_key(self.plan, row), "table_row": table_row,
                                                   "outcome": outcome_json(outcome)})


class RowRuns:
    """Each row is one run of the store's one lifecycle (``Store.run``), held open while the
    row is in flight: the Ray engine finishes rows out of order, so the ``with`` block is
    entered at :meth:`start` and left at :meth:`end` (with the row's exception, if any)."""

    def __init__(self, store: Store, name: str, profile_path: str,
                 cancelled: Callable[[], bool]) -> None:
        self.store, self.name, self.profile_path, self.cancelled = store, name, profile_path, cancelled
        self.open: dict[str, Run] = {}
        self._blocks: dict[str, AbstractContextManager[Run]] = {}

    def start(self, row: RowSpec, profile_json: str, key: str, runs_dir: Path) -> Run:
        block = self.store.run(f"{self.name} {row.id}", profile_path=self.profile_path,
                               profile_json=profile_json, profile_hash=key,
                               out_dir=lambda rid: runs_dir / str(rid), cancelled=self.cancelled)
        self.open[row.id] = block.__enter__()
        self._blocks[row.id] = block
        return self.open[row.id]

    def end(self, row: RowSpec, exc: BaseException | None = None) -> Run:
        """Finish the row's run: ok, or the status ``Store.run`` gives ``exc`` (it writes the
        traceback file of an internal error). Never raises ``exc`` again."""
        run, block = self.open.pop(row.id), self._blocks.pop(row.id)
        if exc is None:
            block.__exit__(None, None, None)
        else:
            with contextlib.suppress(BaseException):
                block.__exit__(type(exc), exc, exc.__traceback__)
        return run


class RowCosts:
    """Params and GFLOPs per source convention, computed once and cached in the home."""

    def __init__(self, home: Home, size: tuple[int, int]) -> None:
        from workbench.sources.cost import read_cost_cache

        self.file = home.cache / "cost.json"
        self.size = size
        self.cache = read_cost_cache(self.file)

    def __call__(self, source: str, variant: str) -> Any:
        from workbench.atomic import write_json
        from workbench.sources.cost import cost_row

        before = len(self.cache)
        row = cost_row(source, variant, self.size, self.cache)
        if len(self.cache) != before:
            write_json(self.file, self.cache)
        return row


def run_sweep(plan: SweepProfile, home: Home, reporter: Reporter | None = None, *,
              engine: str = "local", ray_address: str = "", only: Sequence[str] = (),
              skip: Sequence[str] = (), max_minutes: float | None = None, profile_path: str = "",
              row_cpus: int = 1) -> dict[str, Any]:
    """Run the rows not yet done; return the sweep record (the table rows and file paths)."""
    from workbench.engines import prepare_engine

    rep = reporter or Reporter()
    srep = rep.stage("sweep")
    prepare_engine(engine, ray_address)
    rows = select_rows(plan_rows(plan), list(only), list(skip))
    if not rows:
        from workbench.errors import BadInput

        raise BadInput("no rows left to sweep after --only/--skip")
    check_builds(plan)
    folder = sweep_dir(plan, home)
    state = SweepState(folder, plan)
    store = Store(home.db)
    costs = RowCosts(home, plan.models.input_size)
    t0 = time.perf_counter()
    deadline = None if not max_minutes else time.monotonic() + 60 * max_minutes
    table: dict[str, dict[str, Any]] = {}
    todo: list[RowSpec] = []
    for r in rows:
        st = state.done(r)
        if st is not None:
            table[r.id] = st["table_row"]
            srep.log(f"{r.id}: done (run {st['table_row'].get('run_id')}), skipped")
        else:
            table[r.id] = placeholder_row(r.as_dict(), "pending")
            todo.append(r)
    srep.log(f"{len(rows)} row(s): {len(rows) - len(todo)} done before, {len(todo)} to run on the "
             f"{engine} engine; table in {folder}")
    meta = {"name": plan.name, "profile": profile_path, "engine": engine,
            "input_size": list(plan.models.input_size), "builds": [b.label for b in plan.builds],
            "data": plan.data.path, "limit": plan.data.limit}

    runs = RowRuns(store, f"sweep {plan.name}", profile_path, lambda: rep.cancelled)

    def finished(r: RowSpec, outcome: RowOutcome) -> None:
        run = runs.open[r.id]
        row = zoo_row(outcome, costs(r.source, r.variant), run.id)
        state.save(r, row, outcome)
        table[r.id] = row
        run.summary = {k: row[k] for k in ("id", "fp32_top1", "int8_top1", "top1_agreement",
                                           "best_throughput")}
        runs.end(r)
        srep.log(f"{r.id}: done in {outcome.seconds:.0f} s (run {run.id})"
                 + (" [random-init weights]" if outcome.random_init else ""))
        _progress()

    def failed(r: RowSpec, exc: BaseException) -> None:
        run = runs.end(r, exc)
        table[r.id] = placeholder_row(r.as_dict(), run.status, run.error, run.id)
        srep.log(f"{r.id}: {run.status}: {run.error}", "error")
        _progress()

    def _progress() -> None:
        done = sum(1 for v in table.values() if v["status"] == "ok")
        srep.progress(done, len(rows), "rows")
        write_table(folder, [table[x.id] for x in rows], meta)

    def start(r: RowSpec) -> Run:
        return runs.start(r, json.dumps({"sweep": plan.model_dump(mode="json"), "row": r.as_dict()},
                                        default=str), row_key(plan, r), home.runs)

    def out_of_time() -> bool:
        return deadline is not None and time.monotonic() >= deadline

    _progress()
    try:
        if engine == "ray":
            from workbench.sweep.ray_engine import sweep_on_ray

            sweep_on_ray(plan, todo, home, rep, address=ray_address, start=start, finished=finished,
                         failed=failed, out_of_time=out_of_time, row_cpus=row_cpus)
        else:
            for r in todo:
                if out_of_time():
                    break
                srep.check_cancelled()
                run = start(r)
                assert run.out_dir is not None
                srep.log(f"{r.id}: {r.name} ({'random-init' if r.weights == 'random-init' else r.weights})")
                try:
                    outcome = compute_row(plan, r, home, run.out_dir, reporter=rep)
                    record_row(store, run.id, outcome)
                except (Cancelled, KeyboardInterrupt) as exc:
                    failed(r, exc)
                    raise
                except Exception as exc:  # one row's internal error must not end a day-long sweep
                    failed(r, exc)
                    continue
                finished(r, outcome)
    except BaseException as exc:  # rows still in flight (Ray) end with the sweep
        for rid in list(runs.open):
            failed(next(x for x in todo if x.id == rid), exc)
        raise
    final = [table[r.id] for r in rows]
    paths = write_table(folder, final, meta)
    counts = {s: sum(1 for x in final if x["status"] == s) for s in ("ok", "failed", "pending")}
    record = {"ok": counts["failed"] == 0, "name": plan.name, "engine": engine, "folder": str(folder),
              "rows": final, "counts": counts, "files": paths, "seconds": round(time.perf_counter() - t0, 3),
              "complete": counts["ok"] == len(final)}
    return record
