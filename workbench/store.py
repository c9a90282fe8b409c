"""The run store: one SQLite file (WAL) holding runs, artifacts and metrics.

Every figure the workbench shows — the leaderboard, the TUI's plots — is read back
from here, so nothing measured is lost when a terminal closes.

The schema is versioned with SQLite's ``user_version`` (see :data:`MIGRATIONS`); a store
written by a newer workbench, or a SQLite file that is not ours, is refused with one line.
Readers (``runs``, ``leaderboard``) open the file read-only, without the WAL pragma, so a
read-only home can still be listed. Artifact paths inside the home are stored relative to
it, so a copied home uses its own files.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import BadInput, Cancelled, WorkbenchError
from workbench.records import ResultRow

SCHEMA_VERSION = 3

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
    summary_json  TEXT NOT NULL DEFAULT '{}',
    pid           INTEGER,
    pid_start     TEXT NOT NULL DEFAULT '',
    host          TEXT NOT NULL DEFAULT ''
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
CREATE TABLE IF NOT EXISTS evals (
    run_id               INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    build                TEXT NOT NULL,
    artifact_key         TEXT NOT NULL DEFAULT '',
    images               INTEGER NOT NULL,
    data_root            TEXT NOT NULL DEFAULT '',
    data_layout          TEXT NOT NULL DEFAULT '',
    data_hash            TEXT NOT NULL DEFAULT '',
    eval_limit           INTEGER NOT NULL DEFAULT 0,
    calibration_excluded INTEGER NOT NULL DEFAULT 0,
    includes_calibration INTEGER NOT NULL DEFAULT 0,
    created_at           REAL NOT NULL,
    PRIMARY KEY (run_id, build)
);
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

def _tables_added_in_v3() -> list[str]:
    """Schema v3's new tables (eval identity, the run's machine, effective runtime settings),
    taken from :data:`_SCHEMA` so the migration and a new store cannot drift apart."""
    names = ("evals", "run_machine", "runtime_settings")
    return [stmt.strip() for stmt in _SCHEMA.split(";")
            if any(f"EXISTS {n} (" in stmt for n in names)]


_OUR_TABLES = {"runs", "artifacts", "metrics"}

# user_version N -> N+1. Each step runs in one transaction; add a step, bump SCHEMA_VERSION.
MIGRATIONS: dict[int, list[str]] = {
    1: ["ALTER TABLE runs ADD COLUMN pid INTEGER",
        "ALTER TABLE runs ADD COLUMN pid_start TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE runs ADD COLUMN host TEXT NOT NULL DEFAULT ''"],
    2: _tables_added_in_v3(),
}


class StoreError(BadInput):
    """The store file cannot be used: not SQLite, corrupt, foreign, newer, unwritable."""


def _process_start(pid: int) -> str:
    """The kernel's start time of ``pid`` (Linux), so a reused pid is not mistaken for a run's."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def process_alive(pid: int | None, start: str = "") -> bool:
    """Whether the process that ran a run is still there (same pid and start time)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    return not start or _process_start(pid) in ("", start)

# Headline metrics, as the leaderboard shows them (higher is better unless listed).
LOWER_IS_BETTER = {"p50_ms", "p90_ms", "p99_ms", "mean_ms", "size_mb", "peak_rss_mb"}

#: The one unit rule: these are fractions (0..1) in every row, JSON and CSV; only human
#: tables show them as percent, with % in the header.
FRACTION_METRICS = frozenset({"top1", "top5", "published_top1", "published_top5", "delta_top1",
                              "delta_top5", "top1_ci_lo", "top1_ci_hi", "top1_agreement"})
#: Counts are ints in every row.
COUNT_FIELDS = frozenset({"images", "skipped", "eval_limit", "calibration_excluded", "eval_run"})
#: What a leaderboard row's accuracy comes from: these travel together.
EVAL_FIELDS = ("top1", "top5", "images", "skipped", "eval_img_s", "eval_run", "data_root",
               "data_layout", "data_hash", "eval_limit", "calibration_excluded",
               "includes_calibration")


def percent(value: Any) -> Any:
    """A fraction as percent for a human table (None stays None)."""
    return None if value is None or value == "" else 100 * float(value)


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
    """Thin, typed access to the SQLite file. Safe to open from several threads/processes.

    ``readonly=True`` never writes (no schema, no WAL pragma): for listing a home that may
    be read-only. A missing store then reads as empty.
    """

    def __init__(self, path: str | Path, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self.root = self.path.resolve().parent
        self._immutable = False
        if self.path.exists() and not self.path.is_file():
            raise StoreError(f"{self.path}: the run store is not a regular file")
        if readonly:
            if self.path.exists():
                with self._connect() as con:
                    self._check_version(con, writable=False)
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.path.parent}: cannot create the home folder "
                             f"({exc.strerror or exc})") from None
        with self._connect() as con:
            self._check_version(con, writable=True)

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def _check_version(self, con: sqlite3.Connection, writable: bool) -> None:
        """Refuse newer/foreign schemas; create or migrate ours (writers only).

        A writer holds an immediate (write) transaction from the first look to the last
        change, so concurrent first opens never see a half-created schema."""
        if writable:
            con.execute("BEGIN IMMEDIATE")
        try:
            self._check_version_locked(con, writable)
            if writable:
                con.commit()
        except BaseException:
            if writable:
                con.rollback()
            raise

    def _check_version_locked(self, con: sqlite3.Connection, writable: bool) -> None:
        version = int(con.execute("PRAGMA user_version").fetchone()[0])
        tables = {r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")}
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: store schema v{version} is newer than this hrnet-wb "
                             f"understands (v{SCHEMA_VERSION}); upgrade hrnet-wb or use another --home")
        if tables and not _OUR_TABLES <= tables:
            raise StoreError(f"{self.path}: a SQLite file that is not an hrnet-wb store "
                             f"(tables: {', '.join(sorted(tables)[:5])}); use another --home")
        if version == 0 and tables:
            raise StoreError(f"{self.path}: hrnet-wb tables without a schema version; "
                             "not a store this workbench wrote")
        if not writable:
            return  # an older schema is read as it is (readers check for new columns)
        if not tables:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    con.execute(stmt)
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            return
        while version < SCHEMA_VERSION:
            steps = MIGRATIONS.get(version)
            if steps is None:
                raise StoreError(f"{self.path}: no migration from store schema v{version}")
            for sql in steps:
                con.execute(sql)
            con.execute(f"PRAGMA user_version = {version + 1}")
            version += 1

    def _open(self) -> sqlite3.Connection:
        if not self.readonly:
            return sqlite3.connect(self.path, timeout=30)
        uri = self.path.resolve().as_uri() + ("?mode=ro&immutable=1" if self._immutable else "?mode=ro")
        return sqlite3.connect(uri, uri=True, timeout=30)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            con = self._open()
            try:
                con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            except sqlite3.OperationalError:
                if not self.readonly or self._immutable:
                    raise
                # a WAL store in a folder we cannot write: SQLite cannot create its -shm
                # file, so read the file as it is (nobody can write it there either)
                con.close()
                self._immutable = True
                con = self._open()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot open the run store ({exc})") from None
        con.row_factory = sqlite3.Row
        try:
            if not self.readonly:
                con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA foreign_keys=ON")
            with con:
                yield con
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: the run store is unusable ({exc})") from None
        finally:
            con.close()

    def integrity_ok(self) -> bool:
        """SQLite's own ``PRAGMA integrity_check`` (used by tests and ``doctor`` style checks)."""
        with self._connect() as con:
            return [r[0] for r in con.execute("PRAGMA integrity_check").fetchall()] == ["ok"]

    # -- paths ------------------------------------------------------------------
    def relative_path(self, path: str | Path) -> str:
        """A path inside the home as a relative one (``artifacts/x/model.onnx``), else as is."""
        p = Path(path)
        try:
            return p.resolve().relative_to(self.root.resolve()).as_posix()
        except (ValueError, OSError):
            return str(p)

    def absolute_path(self, stored: str) -> str:
        """Where a stored path points in *this* home: relative paths resolve against it; an
        absolute path into another home's ``artifacts/`` folder is redirected here when this
        home holds the same file (a copied home uses its own models)."""
        if not stored:
            return stored
        p = Path(stored)
        if not p.is_absolute():
            return str(self.root / p)
        parts = p.parts
        if "artifacts" in parts and not p.exists():
            i = len(parts) - 1 - parts[::-1].index("artifacts")
            mine = self.root.joinpath(*parts[i:])
            if mine.exists():
                return str(mine)
        return stored

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
            target = out_dir(run_id) if callable(out_dir) else out_dir
            try:
                run.set_out_dir(target)
            except BaseException as exc:  # never left 'running' (e.g. output.dir is a file)
                from workbench.boundary import classify

                self.finish_run(run_id, "failed", f"output folder {target}: {classify(exc).message}")
                if isinstance(exc, OSError):
                    raise BadInput(f"output folder {target}: cannot create it "
                                   f"({exc.strerror or exc})") from None
                raise
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
                run.status, run.error = "interrupted", str(exc) or "interrupted (Ctrl-C)"
                raise
            raise raised from exc
        except WorkbenchError as exc:
            run.status, run.error = "failed", str(exc)
            raise
        except Exception as exc:  # an internal error: keep the traceback beside the run
            run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"
            if run.out_dir is not None and run.out_dir.is_dir():
                with contextlib.suppress(OSError):  # a full disk must not hide the first error
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
            pid = os.getpid()
            cur = con.execute(
                "INSERT INTO runs(name, profile_path, profile_json, profile_hash, status, started_at,"
                " out_dir, pid, pid_start, host) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)",
                (name, profile_path, profile_json, profile_hash, time.time(), out_dir, pid,
                 _process_start(pid), socket.gethostname()),
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
        """The newest ``limit`` runs (0 = all). A 'running' run whose process is gone reads
        as 'died' (its pid and start time were recorded at start)."""
        if limit < 0:
            raise BadInput(f"limit {limit}: must be 0 (all) or more")
        if self.readonly and not self.exists:
            return []
        with self._connect() as con:
            cols = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
            extra = ", pid, pid_start, host" if "pid" in cols else ""
            rows = con.execute(
                "SELECT id, name, status, started_at, seconds, profile_path, profile_hash, out_dir, error"
                f"{extra} FROM runs ORDER BY id DESC LIMIT ?", (limit or -1,)).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            status = _live_status(d.pop("status"), d.pop("pid", None), d.pop("pid_start", ""),
                                  d.pop("host", ""))
            out.append(RunRow(status=status, **d))
        return out

    def run_record(self, run_id: int) -> dict[str, Any] | None:
        if self.readonly and not self.exists:
            return None
        with self._connect() as con:
            row = con.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            return None
        d = dict(row)
        # 'status' is what was recorded (a supervisor finishing a killed child's run checks
        # it); 'live_status' says 'died' once a 'running' run's process is gone
        d["live_status"] = _live_status(d["status"], d.get("pid"), d.get("pid_start", ""), d.get("host", ""))
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
                 self.relative_path(path), json.dumps(meta or {}, default=str), time.time()),
            )

    def artifact(self, key_or_name: str) -> dict[str, Any] | None:
        if self.readonly and not self.exists:
            return None
        with self._connect() as con:
            row = con.execute(
                "SELECT * FROM artifacts WHERE key=? OR name=? ORDER BY created_at DESC LIMIT 1",
                (key_or_name, key_or_name)).fetchone()
        if row is None:
            return None
        d = dict(row)
        d["meta"] = json.loads(d.pop("meta_json") or "{}")
        d["path"] = self.absolute_path(d["path"])
        return d

    def artifacts(self) -> list[dict[str, Any]]:
        if self.readonly and not self.exists:
            return []
        with self._connect() as con:
            rows = con.execute("SELECT * FROM artifacts ORDER BY created_at DESC").fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["meta"] = json.loads(d.pop("meta_json") or "{}")
            d["path"] = self.absolute_path(d["path"])
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

    def add_eval(self, run_id: int, build: str, *, artifact_key: str = "", images: int,
                 data_root: str = "", data_layout: str = "", data_hash: str = "",
                 eval_limit: int = 0, calibration_excluded: int = 0,
                 includes_calibration: bool = False) -> None:
        """Record what an accuracy figure was measured on (the leaderboard names it)."""
        with self._connect() as con:
            con.execute(
                "INSERT OR REPLACE INTO evals(run_id, build, artifact_key, images, data_root,"
                " data_layout, data_hash, eval_limit, calibration_excluded, includes_calibration,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, build, artifact_key, int(images), data_root, data_layout, data_hash,
                 int(eval_limit), int(calibration_excluded), int(bool(includes_calibration)),
                 time.time()),
            )

    def metrics(self, run_id: int) -> list[dict[str, Any]]:
        if self.readonly and not self.exists:
            return []
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
        the same build appear side by side. Accuracy is the exception: it comes from one
        chosen eval (see :func:`choose_eval`), with its image count and data identity.

        Units: top1/top5 are fractions (stores written before this rule held percent;
        they are converted on read); counts are ints.
        """
        if group not in ("run", "artifact"):
            raise ValueError(f"group {group!r}: expected 'run' or 'artifact'")
        if self.readonly and not self.exists:
            return []
        with self._connect() as con:
            cols = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
            live = "r.pid, r.pid_start, r.host" if "pid" in cols else "NULL AS pid, '' AS pid_start, '' AS host"
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            # a read-only store of an older schema has no evals table: it is read as it is
            evals = ({(e["run_id"], e["build"]): dict(e) for e in con.execute("SELECT * FROM evals")}
                     if "evals" in tables else {})
            rows = con.execute(
                "SELECT m.run_id, m.build, m.artifact_key, m.name, m.value, m.unit, r.name AS run_name,"
                f" r.status, r.started_at, {live}, a.source, a.variant, a.weights, a.backend, a.dtype,"
                " a.calibration, a.input_size"
                " FROM metrics m JOIN runs r ON r.id = m.run_id"
                " LEFT JOIN artifacts a ON a.key = m.artifact_key"
                " WHERE m.params_json = '' ORDER BY m.run_id, m.id").fetchall()
            machines = {int(r["run_id"]): r["fingerprint"] for r in con.execute(
                "SELECT run_id, fingerprint FROM run_machine").fetchall()} if "run_machine" in tables else {}
            settings: dict[tuple[int, str], dict[str, dict[str, Any]]] = {}
            for r in (con.execute("SELECT run_id, build, stage, settings_json FROM runtime_settings")
                      if "runtime_settings" in tables else []):
                settings.setdefault((int(r["run_id"]), r["build"]), {})[r["stage"]] = json.loads(
                    r["settings_json"] or "{}")
        board: dict[tuple[int, str], dict[str, Any]] = {}
        for r in rows:
            key = (r["run_id"], r["build"])
            row = board.get(key)
            if row is None:
                row = board[key] = {
                    "run_id": r["run_id"], "run": r["run_name"],
                    "status": _live_status(r["status"], r["pid"], r["pid_start"], r["host"]),
                    "build": r["build"], "artifact_key": r["artifact_key"],
                    "source": r["source"] or "", "variant": r["variant"] or "",
                    "weights": r["weights"] or "", "backend": r["backend"] or "",
                    "dtype": r["dtype"] or "", "calibration": r["calibration"] or "",
                    "input_size": r["input_size"] or "", "started_at": r["started_at"],
                    "fingerprint": machines.get(int(r["run_id"]), ""),
                }
                ev = evals.get(key)
                if ev is not None:
                    row.update({k: ev[k] for k in ("data_root", "data_layout", "data_hash",
                                                   "eval_limit", "calibration_excluded")})
                    row["includes_calibration"] = bool(ev["includes_calibration"])
                row.update(_runtime_columns(settings.get(key, {})))
            value = r["value"]
            if r["name"] in FRACTION_METRICS and r["unit"] == "%":
                value = value / 100.0  # written before the unit rule
            row[r["name"]] = int(value) if r["name"] in COUNT_FIELDS else value
        for row in board.values():
            if "top1" in row or "top5" in row:
                row["eval_run"] = row["run_id"]
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


def _live_status(status: str, pid: int | None, pid_start: str, host: str) -> str:
    """'running' only while the recorded process lives; 'died' once it is gone (SIGKILL,
    power loss). Runs recorded on another host keep what the store says."""
    if status != "running" or not pid:
        return status
    if host and host != socket.gethostname():
        return status
    return status if process_alive(pid, pid_start) else "died"


_ROW_FIELDS = ("run_id", "run", "status", "build", "artifact_key", "source", "variant", "weights",
               "backend", "dtype", "calibration", "input_size", "started_at", "fingerprint",
               *RUNTIME_COLUMNS)


def _identity(row: dict[str, Any]) -> tuple[str, str, str]:
    return (str(row.get("data_root") or ""), str(row.get("data_layout") or ""),
            str(row.get("data_hash") or ""))


def choose_eval(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The eval whose accuracy an artifact's row shows, from its per-run rows (run order).

    A ``--limit`` smoke test never outranks a full eval: full evals are considered first.
    Among those, the most recent data identity (root, layout, listing hash) wins, and on it
    the eval with the most images (the later one on a tie)."""
    evals = [r for r in rows if r.get("top1") is not None or r.get("images") is not None]
    if not evals:
        return None
    full = [r for r in evals if not r.get("eval_limit")]
    pool = full or evals
    latest = _identity(max(pool, key=lambda r: r["run_id"]))
    same = [r for r in pool if _identity(r) == latest]
    return max(same, key=lambda r: (r.get("images") or 0, r["run_id"]))


def describe_eval(row: dict[str, Any]) -> str:
    """'run 3: 900 images, imagenet-val /data/val (data 1a2b3c4d5e6f)' for a leaderboard row."""
    if row.get("eval_run") is None:
        return ""
    text = f"run {row['eval_run']}: {row.get('images', '?')} images"
    if row.get("data_root"):
        text += f", {row.get('data_layout')} {row['data_root']} (data {str(row.get('data_hash'))[:12]})"
    if row.get("eval_limit"):
        text += f", --limit {row['eval_limit']}"
    if row.get("includes_calibration"):
        text += ", INCLUDES calibration images"
    elif row.get("calibration_excluded"):
        text += f", {row['calibration_excluded']} calibration images left out"
    return text


def _merge_by_artifact(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fold per-run rows (in run order) into one per artifact key (or build name without one);
    accuracy and its eval identity come from :func:`choose_eval`."""
    merged: dict[str, dict[str, Any]] = {}
    per_key: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        key = row["artifact_key"] or f"build:{row['build']}"
        per_key.setdefault(key, []).append(row)
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
    for key, into in merged.items():
        for k in EVAL_FIELDS:
            into.pop(k, None)
        chosen = choose_eval(per_key[key])
        if chosen is not None:
            into.update({k: chosen[k] for k in EVAL_FIELDS if k in chosen})
            into["eval_choice"] = describe_eval(chosen) + (
                "; the largest full eval on the latest data" if not chosen.get("eval_limit")
                else "; only smoke tests (--limit) so far")
    return list(merged.values())
