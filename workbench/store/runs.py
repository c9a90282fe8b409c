"""Runs and what they record: the one run lifecycle (``with store.run(...) as run``), the
liveness of a 'running' run, its machine, metrics, eval identity and runtime settings."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from workbench.errors import BadInput, Cancelled, WorkbenchError
from workbench.liveness import process_alive, process_start
from workbench.store.connection import StoreBase
from workbench.store.schema import StoreError

if TYPE_CHECKING:
    from workbench.store import Store


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


def live_status(status: str, pid: int | None, pid_start: str, host: str) -> str:
    """'running' only while the recorded process lives; 'died' once it is gone (SIGKILL,
    power loss). Runs recorded on another host keep what the store says."""
    if status != "running" or not pid:
        return status
    if host and host != socket.gethostname():
        return status
    return status if process_alive(pid, pid_start) else "died"


class RunLog(StoreBase):
    """The runs table and the per-run records beside it."""

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
        run = Run(run_id, cast("Store", self))  # RunLog is only ever a part of Store
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
                run.status, run.error = "cancelled", str(exc) or "cancelled by the user"
                raised = Cancelled(run.error)
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
            self._finish_or_say(run, raised or sys.exc_info()[1])

    def _finish_or_say(self, run: Run, first: BaseException | None) -> None:
        """Record the run's end; when the store cannot take it (a full disk), try the bare
        status once more, then raise one line that says where the results are (the run
        reads as 'died' until the next start here records that). A first error goes on."""
        try:
            self.finish_run(run.id, run.status, run.error, run.summary)
            return
        except (StoreError, OSError) as exc:
            why = str(exc)
        status, error = (run.status, run.error) if run.status != "ok" else ("failed", why)
        try:
            self.finish_run(run.id, status, error[:2000])
            recorded = "recorded as failed"
        except (StoreError, OSError):
            recorded = "its end could not be recorded"
        if first is not None and not isinstance(first, StoreError | OSError):
            return
        where = f"; its files are in {run.out_dir}" if run.out_dir else ""
        raise StoreError(f"run {run.id}: {recorded} ({why}){where}") from None

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
                 process_start(pid), socket.gethostname()),
            )
            run_id = int(cur.lastrowid or 0)
            self._close_dead(con, run_id)
            con.execute("INSERT OR REPLACE INTO run_machine(run_id, fingerprint, cpu_json)"
                        " VALUES (?, ?, ?)",
                        (run_id, cpu.fingerprint, json.dumps(cpu.as_dict(), default=str)))
            return run_id

    @staticmethod
    def _close_dead(con: Any, new_id: int) -> None:
        """Runs of this host left 'running' by a process that is gone (killed, or a full disk
        refused its last write) are recorded as 'died' when the next run starts here."""
        host = socket.gethostname()
        for r in con.execute("SELECT id, pid, pid_start FROM runs WHERE status='running' AND host=?"
                             " AND id<>?", (host, new_id)).fetchall():
            if r["pid"] and not process_alive(r["pid"], r["pid_start"] or ""):
                con.execute("UPDATE runs SET status='died', error=? WHERE id=? AND status='running'",
                            ("its process ended before it recorded its end (killed, or the disk was full)",
                             r["id"]))

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
            status = live_status(d.pop("status"), d.pop("pid", None), d.pop("pid_start", ""),
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
        d["live_status"] = live_status(d["status"], d.get("pid"), d.get("pid_start", ""), d.get("host", ""))
        d["profile"] = json.loads(d.pop("profile_json") or "{}")
        d["summary"] = json.loads(d.pop("summary_json") or "{}")
        return d

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
