"""The run store: one SQLite file (WAL) holding runs, artifacts and metrics.

Every figure the workbench shows — the leaderboard, the TUI's plots — is read back
from here, so nothing measured is lost when a terminal closes.
"""

from __future__ import annotations

import json
import sqlite3
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import Cancelled, WorkbenchError
from workbench.records import ResultRow

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL,
    profile_path  TEXT NOT NULL DEFAULT '',
    profile_json  TEXT NOT NULL DEFAULT '{}',
    profile_hash  TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT 'running',
    started_at    REAL NOT NULL,
    finished_at   REAL,
    seconds       REAL,
    out_dir       TEXT NOT NULL DEFAULT '',
    error         TEXT NOT NULL DEFAULT '',
    summary_json  TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS artifacts (
    key          TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    source       TEXT NOT NULL DEFAULT '',
    variant      TEXT NOT NULL DEFAULT '',
    weights      TEXT NOT NULL DEFAULT '',
    backend      TEXT NOT NULL DEFAULT '',
    dtype        TEXT NOT NULL DEFAULT '',
    calibration  TEXT NOT NULL DEFAULT '',
    input_size   TEXT NOT NULL DEFAULT '',
    path         TEXT NOT NULL,
    meta_json    TEXT NOT NULL DEFAULT '{}',
    created_at   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS metrics (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    build         TEXT NOT NULL,
    artifact_key  TEXT NOT NULL DEFAULT '',
    name          TEXT NOT NULL,
    value         REAL NOT NULL,
    unit          TEXT NOT NULL DEFAULT '',
    params_json   TEXT NOT NULL DEFAULT '',
    created_at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_run ON metrics(run_id, build);
CREATE TABLE IF NOT EXISTS run_machine (
    run_id       INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    fingerprint  TEXT NOT NULL,
    cpu_json     TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS runtime_settings (
    run_id         INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    build          TEXT NOT NULL,
    artifact_key   TEXT NOT NULL DEFAULT '',
    stage          TEXT NOT NULL DEFAULT '',
    precision      TEXT NOT NULL DEFAULT '',
    settings_json  TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, build, stage)
);
"""

# Headline metrics, as the leaderboard shows them (higher is better unless listed).
LOWER_IS_BETTER = {"p50_ms", "p90_ms", "p99_ms", "mean_ms", "size_mb", "peak_rss_mb"}


@dataclass(frozen=True)
class RunRow:
    id: int
    name: str
    status: str
    started_at: float
    seconds: float | None
    profile_path: str
    profile_hash: str
    out_dir: str
    error: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(eq=False)
class Run:
    """A run in progress, as ``Store.run`` hands it to the body."""

    id: int
    store: Store
    out_dir: Path | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    summarize: Callable[[Run], dict[str, Any]] | None = None
    status: str = "running"
    error: str = ""
    seconds: float = 0.0

    def set_out_dir(self, out_dir: Path) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir = out_dir
        self.store.set_out_dir(self.id, str(out_dir))
        return out_dir

    def metric(self, build: str, name: str, value: float, unit: str = "", artifact_key: str = "",
               params: dict[str, Any] | None = None) -> None:
        self.store.add_metric(self.id, build, name, value, unit, artifact_key, params)


class Store:
    """Thin, typed access to the SQLite file. Safe to open from several threads/processes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30)
        con.row_factory = sqlite3.Row
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA foreign_keys=ON")
            with con:
                yield con
        finally:
            con.close()

    # -- runs -----------------------------------------------------------------
    @contextmanager
    def run(self, name: str, *, profile_path: str = "", profile_json: str = "{}",
            profile_hash: str = "", out_dir: Path | Callable[[int], Path] | None = None,
            cancelled: Callable[[], bool] | None = None) -> Iterator[Run]:
        """The one run lifecycle: start a run, and finish it however the body ends.

        ok when the body returns; ``cancelled`` on :class:`Cancelled` (and on Ctrl-C when
        ``cancelled()`` says the user asked, which re-raises as Cancelled); ``interrupted``
        on a bare Ctrl-C; ``failed`` with the error's one line otherwise (an internal error
        also leaves ``traceback.txt`` in the run's folder). The stored summary is
        ``run.summarize(run)`` when set (it sees the final status), else ``run.summary``.
        ``out_dir`` may depend on the run id, so it can be a function of it.
        """
        run_id = self.start_run(name, profile_path, profile_json, profile_hash)
        run = Run(run_id, self)
        if out_dir is not None:
            run.set_out_dir(out_dir(run_id) if callable(out_dir) else out_dir)
        t0 = time.perf_counter()
        raised: BaseException | None = None
        try:
            yield run
        except Cancelled as exc:
            run.status, run.error = "cancelled", str(exc)
            raise
        except KeyboardInterrupt as exc:
            if cancelled is not None and cancelled():  # the UI interrupted a native call
                run.status, run.error = "cancelled", "cancelled by the user"
                raised = Cancelled("cancelled by the user")
            else:
                run.status, run.error = "interrupted", "interrupted (Ctrl-C)"
                raise
            raise raised from exc
        except WorkbenchError as exc:
            run.status, run.error = "failed", str(exc)
            raise
        except Exception as exc:  # an internal error: keep the traceback beside the run
            run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"
            if run.out_dir is not None and run.out_dir.is_dir():
                (run.out_dir / "traceback.txt").write_text(traceback.format_exc())
            raise
        else:
            run.status = "ok"
        finally:
            run.seconds = time.perf_counter() - t0
            if run.summarize is not None:
                run.summary = run.summarize(run)
            self.finish_run(run_id, run.status, run.error, run.summary)

    def close_orphan(self, run_id: int, status: str, error: str,
                     summary: dict[str, Any] | None = None) -> bool:
        """Finish a run whose process died before its own ``run()`` block could (the TUI's
        child killed on cancel). Returns False when the run was already finished."""
        row = self.run_row(run_id)
        if row is None or row.status != "running":
            return False
        self.finish_run(run_id, status, error, summary)
        return True

    def start_run(self, name: str, profile_path: str = "", profile_json: str = "{}",
                  profile_hash: str = "", out_dir: str = "") -> int:
        """Open a run; the CPU it runs on (workbench.hardware) is recorded with it."""
        from workbench.hardware import detect_cpu

        cpu = detect_cpu()
        with self._connect() as con:
            cur = con.execute(
                "INSERT INTO runs(name, profile_path, profile_json, profile_hash, status, started_at, out_dir)"
                " VALUES (?, ?, ?, ?, 'running', ?, ?)",
                (name, profile_path, profile_json, profile_hash, time.time(), out_dir),
            )
            run_id = int(cur.lastrowid or 0)
            con.execute("INSERT OR REPLACE INTO run_machine(run_id, fingerprint, cpu_json)"
                        " VALUES (?, ?, ?)",
                        (run_id, cpu.fingerprint, json.dumps(cpu.as_dict(), default=str)))
            return run_id

    def machine(self, run_id: int) -> dict[str, Any] | None:
        """The CPU a run was recorded on: ``fingerprint`` and the detected ``cpu``."""
        with self._connect() as con:
            row = con.execute("SELECT fingerprint, cpu_json FROM run_machine WHERE run_id=?",
                              (run_id,)).fetchone()
        if row is None:
            return None
        return {"fingerprint": row["fingerprint"], "cpu": json.loads(row["cpu_json"] or "{}")}

    # -- effective runtime settings ---------------------------------------------------
    def add_runtime(self, run_id: int, build: str, settings: dict[str, Any] | None,
                    artifact_key: str = "", stage: str = "bench") -> None:
        """What the runtime reported it ran (workbench.runtime_settings), per build and stage."""
        if not settings:
            return
        with self._connect() as con:
            con.execute(
                "INSERT OR REPLACE INTO runtime_settings(run_id, build, artifact_key, stage,"
                " precision, settings_json) VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, build, artifact_key, stage, str(settings.get("compute_precision", "")),
                 json.dumps(settings, sort_keys=True, default=str)))

    def runtime(self, run_id: int) -> list[dict[str, Any]]:
        with self._connect() as con:
            rows = con.execute("SELECT * FROM runtime_settings WHERE run_id=? ORDER BY build, stage",
                               (run_id,)).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["settings"] = json.loads(d.pop("settings_json") or "{}")
            out.append(d)
        return out

    def set_out_dir(self, run_id: int, out_dir: str) -> None:
        with self._connect() as con:
            con.execute("UPDATE runs SET out_dir=? WHERE id=?", (out_dir, run_id))

    def finish_run(self, run_id: int, status: str, error: str = "",
                   summary: dict[str, Any] | None = None) -> None:
        now = time.time()
        with self._connect() as con:
            con.execute(
                "UPDATE runs SET status=?, finished_at=?, seconds=?-started_at, error=?, summary_json=?"
                " WHERE id=?",
                (status, now, now, error, json.dumps(summary or {}, default=str), run_id),
            )

    def run_row(self, run_id: int) -> RunRow | None:
        with self._connect() as con:
            r = con.execute(
                "SELECT id, name, status, started_at, seconds, profile_path, profile_hash, out_dir, error"
                " FROM runs WHERE id=?", (run_id,)).fetchone()
        return None if r is None else RunRow(**dict(r))

    def runs(self, limit: int = 100) -> list[RunRow]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT id, name, status, started_at, seconds, profile_path, profile_hash, out_dir, error"
                " FROM runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [RunRow(**dict(r)) for r in rows]

    def run_record(self, run_id: int) -> dict[str, Any] | None:
        with self._connect() as con:
            row = con.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            return None
        d = dict(row)
        d["profile"] = json.loads(d.pop("profile_json") or "{}")
        d["summary"] = json.loads(d.pop("summary_json") or "{}")
        return d

    # -- artifacts --------------------------------------------------------------
    def add_artifact(self, key: str, name: str, kind: str, path: str, *, source: str = "",
                     variant: str = "", weights: str = "", backend: str = "", dtype: str = "",
                     calibration: str = "", input_size: str = "",
                     meta: dict[str, Any] | None = None) -> None:
        with self._connect() as con:
            con.execute(
                "INSERT OR REPLACE INTO artifacts(key, name, kind, source, variant, weights, backend, dtype,"
                " calibration, input_size, path, meta_json, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, name, kind, source, variant, weights, backend, dtype, calibration, input_size,
                 path, json.dumps(meta or {}, default=str), time.time()),
            )

    def artifact(self, key_or_name: str) -> dict[str, Any] | None:
        with self._connect() as con:
            row = con.execute(
                "SELECT * FROM artifacts WHERE key=? OR name=? ORDER BY created_at DESC LIMIT 1",
                (key_or_name, key_or_name)).fetchone()
        if row is None:
            return None
        d = dict(row)
        d["meta"] = json.loads(d.pop("meta_json") or "{}")
        return d

    def artifacts(self) -> list[dict[str, Any]]:
        with self._connect() as con:
            rows = con.execute("SELECT * FROM artifacts ORDER BY created_at DESC").fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["meta"] = json.loads(d.pop("meta_json") or "{}")
            out.append(d)
        return out

    # -- metrics ------------------------------------------------------------------
    def add_metric(self, run_id: int, build: str, name: str, value: float, unit: str = "",
                   artifact_key: str = "", params: dict[str, Any] | None = None) -> None:
        with self._connect() as con:
            con.execute(
                "INSERT INTO metrics(run_id, build, artifact_key, name, value, unit, params_json, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, build, artifact_key, name, float(value), unit,
                 json.dumps(params, sort_keys=True) if params else "", time.time()),
            )

    def metrics(self, run_id: int) -> list[dict[str, Any]]:
        with self._connect() as con:
            rows = con.execute("SELECT * FROM metrics WHERE run_id=? ORDER BY id", (run_id,)).fetchall()
        return [dict(r) for r in rows]

    def results(self, group: str = "run") -> list[ResultRow]:
        """:meth:`leaderboard` as typed rows."""
        return [ResultRow.from_dict(d) for d in self.leaderboard(group)]

    def leaderboard(self, group: str = "run") -> list[dict[str, Any]]:
        """One row per (run, build): headline metrics pivoted, joined with the build config.

        ``group="artifact"``: one row per artifact across runs (the latest run's value of
        each metric wins), so accuracy from an eval run and speed from a later bench run of
        the same build appear side by side.
        """
        if group not in ("run", "artifact"):
            raise ValueError(f"group {group!r}: expected 'run' or 'artifact'")
        with self._connect() as con:
            rows = con.execute(
                "SELECT m.run_id, m.build, m.artifact_key, m.name, m.value, r.name AS run_name,"
                " r.status, r.started_at, a.source, a.variant, a.weights, a.backend, a.dtype,"
                " a.calibration, a.input_size"
                " FROM metrics m JOIN runs r ON r.id = m.run_id"
                " LEFT JOIN artifacts a ON a.key = m.artifact_key"
                " WHERE m.params_json = '' ORDER BY m.run_id, m.id").fetchall()
            machines = {int(r["run_id"]): r["fingerprint"] for r in con.execute(
                "SELECT run_id, fingerprint FROM run_machine").fetchall()}
            settings: dict[tuple[int, str], dict[str, dict[str, Any]]] = {}
            for r in con.execute("SELECT run_id, build, stage, settings_json FROM runtime_settings"):
                settings.setdefault((int(r["run_id"]), r["build"]), {})[r["stage"]] = json.loads(
                    r["settings_json"] or "{}")
        board: dict[tuple[int, str], dict[str, Any]] = {}
        for r in rows:
            key = (r["run_id"], r["build"])
            row = board.get(key)
            if row is None:
                row = board[key] = {
                    "run_id": r["run_id"], "run": r["run_name"], "status": r["status"],
                    "build": r["build"], "artifact_key": r["artifact_key"],
                    "source": r["source"] or "", "variant": r["variant"] or "",
                    "weights": r["weights"] or "", "backend": r["backend"] or "",
                    "dtype": r["dtype"] or "", "calibration": r["calibration"] or "",
                    "input_size": r["input_size"] or "", "started_at": r["started_at"],
                    "fingerprint": machines.get(int(r["run_id"]), ""),
                }
                row.update(_runtime_columns(settings.get(key, {})))
            row[r["name"]] = r["value"]
        out = list(board.values())
        if group == "artifact":
            out = _merge_by_artifact(out)
        mark_mixed_machines(out)
        return out


#: Columns the leaderboard takes from the effective runtime settings.
RUNTIME_COLUMNS = ("precision", "eval_precision", "runtime", "streams_eff", "threads_eff", "hint")


def _runtime_columns(by_stage: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``precision`` is what the speed figures ran in (bench), ``eval_precision`` what the
    accuracy figures ran in (eval); the rest describe the bench's runtime."""
    bench = by_stage.get("bench") or {}
    ev = by_stage.get("eval") or {}
    main = bench or ev
    out: dict[str, Any] = {
        "precision": bench.get("compute_precision", "") or ev.get("compute_precision", ""),
        "eval_precision": ev.get("compute_precision", ""),
        "runtime": (f"{main.get('runtime', '')} {main.get('version', '')}".strip()) if main else "",
        "hint": main.get("hint", ""),
    }
    for col, key in (("streams_eff", "streams"), ("threads_eff", "threads")):
        if main.get(key) is not None:  # figures only when the runtime reported them
            out[col] = main[key]
    return out


SPEED_COLUMNS = ("p50_ms", "throughput")


def mark_mixed_machines(rows: list[dict[str, Any]]) -> list[str]:
    """When speed rows come from more than one CPU, say so on each of them (``speed_note``)
    and return the fingerprints; speed is only comparable within one fingerprint."""
    fps = sorted({str(r.get("fingerprint") or "unknown") for r in rows
                  if any(r.get(c) is not None for c in SPEED_COLUMNS)})
    for r in rows:
        r["speed_note"] = ""
        if len(fps) > 1 and any(r.get(c) is not None for c in SPEED_COLUMNS):
            others = [f for f in fps if f != (r.get("fingerprint") or "unknown")]
            r["speed_note"] = (f"speed measured on {r.get('fingerprint') or 'an unrecorded CPU'}; "
                               f"other rows on {', '.join(others)}: not comparable")
    return fps if len(fps) > 1 else []


_ROW_FIELDS = ("run_id", "run", "status", "build", "artifact_key", "source", "variant", "weights",
               "backend", "dtype", "calibration", "input_size", "started_at", "fingerprint",
               *RUNTIME_COLUMNS)


def _merge_by_artifact(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fold per-run rows (in run order) into one per artifact key (or build name without one)."""
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = row["artifact_key"] or f"build:{row['build']}"
        into = merged.get(key)
        if into is None:
            merged[key] = dict(row, runs=str(row["run_id"]))
            continue
        runs = into["runs"]
        into.update({k: v for k, v in row.items() if k not in _ROW_FIELDS or k in (
            "run_id", "run", "status", "started_at", "build")})
        if row.get("throughput") is not None or row.get("p50_ms") is not None:
            # speed and its machine and runtime travel together: the latest speed run's
            into.update({k: row[k] for k in ("fingerprint", *RUNTIME_COLUMNS)
                         if k != "eval_precision" and k in row})
        if row.get("eval_precision"):
            into["eval_precision"] = row["eval_precision"]
        into["runs"] = f"{runs},{row['run_id']}"
    return list(merged.values())
