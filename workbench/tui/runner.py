"""Run one profile through :func:`workbench.pipeline.run_profile` for the TUI, cancellably.

The TUI needs "press cancel, stopped within 2 s, recorded as cancelled". Stages call
``reporter.check_cancelled()`` in their loops, but a native call (an ONNX export, ORT's
calibration inside ``quantize_static``) can hold the thread for longer than that, and a
Python thread cannot be interrupted. So the default runner starts the *same*
``run_profile`` in a child process (``spawn``) and streams the same event dataclasses back
over a queue. On cancel it sets the shared cancel flag first (the clean path: the pipeline
raises ``Cancelled`` at its next check and records the run itself), then sends SIGINT,
which the child turns into ``Cancelled`` at the next bytecode boundary, and only then
terminates it. If the child never got to record the run, the parent records it as
cancelled in the store (SQLite in WAL mode, safe across processes) and removes the
temporary files the atomic writers left, so no half-written file survives.

The in-thread runner (``mode="thread"``) is kept for the tests of the bridge and for
environments where spawning is impossible; it meets the 2 s promise only when every stage
reaches a ``check_cancelled`` within that time.

This module imports neither textual nor the heavy stack: the child process imports it.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.atomic import sweep_temp_files
from workbench.errors import Cancelled, CheckFailed, WorkbenchError
from workbench.events import Event, Failed, Reporter, RunFinished, RunStarted

Sink = Callable[[Event], None]

# After the cancel flag: wait this long for the pipeline to stop by itself, then SIGINT.
FLAG_GRACE_S = 0.5
# After SIGINT: wait this long, then terminate (SIGTERM), then kill.
SIGINT_GRACE_S = 0.5
TERM_GRACE_S = 0.2
# Where the child's native stdout/stderr go, under <home>/cache/.
CHILD_LOG = "tui-runs.log"


class CancelInterrupt(KeyboardInterrupt):
    """Raised in the child by the SIGINT that follows an unanswered cancel request."""


class JobFailed(WorkbenchError):
    """The pipeline failed in the child with an error that is not a WorkbenchError."""


@dataclass
class JobOutcome:
    """What one queued run ended as, for the queue list and the tests."""

    run_id: int | None = None
    status: str = "running"
    error: str = ""
    record: dict[str, Any] = field(default_factory=dict)
    cancel_latency_s: float | None = None
    stopped_by: str = ""  # flag | sigint | terminate  (how a cancel took effect)


# -- the child process ---------------------------------------------------------------


def _child_main(profile_json: str, profile_path: str, home_root: str, events: Any,
                cancel: Any) -> None:
    """Entry point of the spawned child: the same ``run_profile``, events onto ``events``."""
    from workbench.home import resolve_home
    from workbench.pipeline import run_profile
    from workbench.profile import Profile

    def on_sigint(_sig: int, _frame: Any) -> None:
        # The parent sends SIGINT only after setting the cancel flag; a stray Ctrl-C from
        # the terminal (the child shares its process group) without the flag is ignored.
        # It raises a KeyboardInterrupt, not Cancelled: stages wrap native calls in
        # ``except Exception`` (turning errors into one-line BadInput), which must not
        # swallow the interruption. run_profile records it as "cancelled" because the
        # reporter's cancel flag is set.
        if cancel.is_set():
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # once: never inside the recording
            flag.set()
            raise CancelInterrupt()

    flag = threading.Event()
    signal.signal(signal.SIGINT, on_sigint)
    _quiet_native_output(Path(home_root))

    def watch() -> None:
        cancel.wait()
        flag.set()

    threading.Thread(target=watch, daemon=True).start()

    def sink(ev: Event) -> None:
        events.put(("event", ev))

    try:
        prof = Profile.model_validate_json(profile_json)
        record = run_profile(prof, resolve_home(home_root), Reporter(sink, flag), profile_path)
        events.put(("done", record))
    except WorkbenchError as exc:
        events.put(("error", (type(exc).__name__, str(exc), exc.exit_code)))
    except KeyboardInterrupt:
        events.put(("error", ("Cancelled", "cancelled by the user", 130)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, never swallowed silently
        events.put(("error", (type(exc).__name__, f"{type(exc).__name__}: {exc}", 1)))
    # Everything is recorded and every file was written atomically; tearing down torch,
    # ORT and OpenVINO at interpreter exit takes seconds on a busy machine, so flush the
    # queue and leave at once.
    events.close()
    events.join_thread()
    os._exit(0)


def _quiet_native_output(home_root: Path) -> None:
    """Send the child's fd 1 and 2 to a log file: native libraries (ORT, OpenVINO) write
    warnings straight to the terminal, which would scribble over the TUI."""
    log = home_root / "cache" / CHILD_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


# -- the parent side ---------------------------------------------------------------------

_tracker_lock = threading.Lock()


def _ensure_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with a real stderr.

    The tracker passes ``sys.stderr.fileno()`` to its process; under Textual, sys.stderr is
    a capture object without a usable descriptor, and spawning fails with "bad value(s)
    in fds_to_keep". Swap in the process's real stderr for that one call.
    """
    import sys
    from multiprocessing import resource_tracker

    with _tracker_lock:
        try:
            ok = sys.stderr is not None and sys.stderr.fileno() >= 0
        except (AttributeError, OSError, ValueError):
            ok = False
        if ok:
            resource_tracker.ensure_running()
            return
        saved = sys.stderr
        try:
            sys.stderr = sys.__stderr__
            resource_tracker.ensure_running()
        finally:
            sys.stderr = saved


class PipelineJob:
    """One run of one profile. ``run()`` blocks (call it from a worker thread)."""

    def __init__(self, profile: Any, home: Any, sink: Sink, profile_path: str = "",
                 mode: str = "process") -> None:
        if mode not in ("process", "thread"):
            raise ValueError(f"mode {mode!r}: expected 'process' or 'thread'")
        self.profile = profile
        self.home = home
        self.sink = sink
        self.profile_path = profile_path
        self.mode = mode
        self.outcome = JobOutcome()
        self._cancel_requested = threading.Event()
        self._cancel_at: float | None = None
        self._thread_cancel = threading.Event()
        self._mp_cancel: Any = None
        self._proc: Any = None
        self._started_at = time.time()
        self._stopping = False

    # Called from the UI thread.
    def cancel(self) -> None:
        """Ask the run to stop; returns at once, the worker does the escalation."""
        if self._cancel_requested.is_set():
            return
        self._cancel_at = time.perf_counter()
        self._cancel_requested.set()
        self._thread_cancel.set()
        if self._mp_cancel is not None:
            self._mp_cancel.set()

    @property
    def cancelling(self) -> bool:
        return self._cancel_requested.is_set()

    def _emit(self, ev: Event) -> None:
        if isinstance(ev, RunStarted):
            self.outcome.run_id = ev.run_id
        elif isinstance(ev, RunFinished):
            self.outcome.status = ev.status
            self.outcome.record = dict(ev.record)
            if self._cancel_at is not None:
                self.outcome.cancel_latency_s = time.perf_counter() - self._cancel_at
        elif isinstance(ev, Failed):
            self.outcome.error = ev.message
            self._stopping = True  # the pipeline caught the error and is recording the run
        self.sink(ev)

    def run(self) -> dict[str, Any]:
        """Run to the end; return the record, or raise the error the pipeline raised."""
        if self.mode == "thread":
            return self._run_thread()
        return self._run_process()

    def _run_thread(self) -> dict[str, Any]:
        from workbench.pipeline import run_profile

        reporter = Reporter(self._emit, self._thread_cancel)
        if self._cancel_requested.is_set():
            raise Cancelled("cancelled before it started")
        try:
            return run_profile(self.profile, self.home, reporter, self.profile_path)
        finally:
            if self._cancel_at is not None and self.outcome.cancel_latency_s is None:
                self.outcome.cancel_latency_s = time.perf_counter() - self._cancel_at
            if self._cancel_requested.is_set():
                self.outcome.stopped_by = "flag"

    def _run_process(self) -> dict[str, Any]:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        _ensure_resource_tracker()
        events = ctx.Queue()
        self._mp_cancel = ctx.Event()
        if self._cancel_requested.is_set():
            raise Cancelled("cancelled before it started")
        proc = ctx.Process(
            target=_child_main, name="hrnet-wb-run", daemon=False,
            args=(self.profile.model_dump_json(), self.profile_path, str(self.home.root),
                  events, self._mp_cancel),
        )
        self._started_at = time.time()
        proc.start()
        self._proc = proc
        result: tuple[str, Any] | None = None
        escalation = 0  # 0 flag only, 1 SIGINT sent, 2 terminated
        while True:
            try:
                kind, payload = events.get(timeout=0.05)
            except queue.Empty:
                if not proc.is_alive():
                    # Drain what it wrote just before exiting.
                    try:
                        kind, payload = events.get(timeout=0.2)
                    except queue.Empty:
                        break
                else:
                    escalation = self._escalate(proc, escalation)
                    continue
            if kind == "event":
                self._emit(payload)
            else:
                result = (kind, payload)
                break
        proc.join(timeout=0.5)
        if proc.is_alive():  # reap it in the background; the result is already here
            threading.Thread(target=_reap, args=(proc,), daemon=True).start()
        if self._cancel_at is not None and self.outcome.cancel_latency_s is None:
            self.outcome.cancel_latency_s = time.perf_counter() - self._cancel_at
        if self._cancel_requested.is_set() and not self.outcome.stopped_by:
            self.outcome.stopped_by = ("flag", "sigint", "terminate")[min(escalation, 2)]
        if result is not None and result[0] == "done":
            return dict(result[1])
        if self._cancel_requested.is_set():
            self._record_cancel_if_needed()
            raise Cancelled("cancelled by the user")
        if result is None:
            code = proc.exitcode
            msg = (f"the run's process exited with code {code} before reporting; see "
                   f"{Path(self.home.cache) / CHILD_LOG}")
            self._record_failure_if_needed(msg)
            raise JobFailed(msg)
        name, message, exit_code = result[1]
        raise _rebuild_error(name, message, exit_code)

    def _escalate(self, proc: Any, escalation: int) -> int:
        """Flag → SIGINT → terminate, each after its grace period."""
        if self._cancel_at is None:
            return escalation
        waited = time.perf_counter() - self._cancel_at
        if self._stopping and waited < 10:
            return escalation  # it stopped and is recording: never interrupt that
        if escalation == 0 and waited >= FLAG_GRACE_S:
            try:
                os.kill(proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            return 1
        if escalation == 1 and waited >= FLAG_GRACE_S + SIGINT_GRACE_S:
            proc.terminate()
            proc.join(timeout=TERM_GRACE_S)
            if proc.is_alive():
                proc.kill()
            return 2
        return escalation

    def _record_cancel_if_needed(self) -> None:
        """The child was stopped before it recorded the run: record it, sweep temp files."""
        self._finish_in_store("cancelled", "cancelled by the user")
        if self.outcome.status == "running":
            self.outcome.status = "cancelled"

    def _record_failure_if_needed(self, message: str) -> None:
        self._finish_in_store("failed", message)
        self.outcome.status = "failed"
        self.outcome.error = message

    def _finish_in_store(self, status: str, error: str) -> None:
        from workbench.store import Store

        run_id = self.outcome.run_id
        if run_id is None:
            return
        store = Store(self.home.db)
        row = store.run_row(run_id)
        if row is None or row.status != "running":
            return
        removed = 0
        if self.outcome.stopped_by == "terminate":  # killed: its finally blocks never ran
            removed = sweep_temp_files(_run_folders(self.home, row.out_dir), self._started_at)
        if not store.close_orphan(run_id, status, error, {
                "ok": False, "run_id": run_id, "status": status, "error": error,
                "temp_files_removed": removed}):
            return
        self._emit(Failed("run", error, 130 if status == "cancelled" else 1))
        self._emit(RunFinished("run", run_id, status, time.time() - self._started_at,
                               {"run_id": run_id, "status": status, "error": error}))


def _reap(proc: Any) -> None:
    proc.join(timeout=10)
    if proc.is_alive():
        proc.kill()
        proc.join(timeout=2)


def _rebuild_error(name: str, message: str, exit_code: int) -> Exception:
    """Turn the child's (type name, message, exit code) back into the error type it was."""
    import workbench.errors as errors

    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, WorkbenchError):
        return cls(message)
    if exit_code == 1 and name == "CheckFailed":  # pragma: no cover - covered above
        return CheckFailed(message)
    return JobFailed(message)


def _run_folders(home: Any, out_dir: str) -> list[Path]:
    folders = [Path(home.artifacts), Path(home.cache)]
    if out_dir:
        folders.append(Path(out_dir))
    return folders
