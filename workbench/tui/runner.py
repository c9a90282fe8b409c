"""Run one profile through :func:`workbench.pipeline.run_profile` for the TUI, cancellably.

The TUI needs "press cancel, stopped within 2 s, recorded as cancelled". Stages call
``reporter.check_cancelled()`` in their loops, but a native call (an ONNX export, ORT's
calibration inside ``quantize_static``) can hold the thread for longer than that, and a
Python thread cannot be interrupted. So the default runner starts the *same*
``run_profile`` in a child process (``spawn``) and streams the same event dataclasses back
over a pipe. On cancel it writes the reason to the child's cancel pipe (the clean path: the
pipeline raises ``Cancelled`` at its next check and records the run itself), then sends
SIGUSR1, which the child turns into an interruption at the next bytecode boundary, and only
then terminates it. SIGTERM and SIGHUP reaching the child (a server stop, a closed
terminal) and the app going away (EOF on the cancel pipe: Ctrl+Q, a closed browser tab, a
kill) cancel it the same way, so the run is recorded ``cancelled`` with the reason from
every exit. If the child never got to record the run, whoever is left records it (the
parent, or the child itself after a grace) in the store (SQLite in WAL mode, safe across
processes) and removes the temporary files the atomic writers left. Pipes, not a Queue and
an Event: a killed process leaves no semaphores behind.

The in-thread runner (``mode="thread"``) is kept for the tests of the bridge and for
environments where spawning is impossible; it meets the 2 s promise only when every stage
reaches a ``check_cancelled`` within that time.

This module imports neither textual nor the heavy stack: the child process imports it.
"""

from __future__ import annotations

import contextlib
import os
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
from workbench.tui.run_child import CHILD_LOG, FLAG_GRACE_S, child_main

Sink = Callable[[Event], None]

# After SIGUSR1: wait this long, then terminate (SIGTERM), then kill.
SIGNAL_GRACE_S = 0.5
TERM_GRACE_S = 0.2


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
    stopped_by: str = ""  # flag | signal | terminate  (how a cancel took effect)


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
        self._cancel_pipe: Any = None  # the write end of the child's cancel pipe
        self._reason = ["cancelled by the user"]  # shared with the in-thread reporter
        self._proc: Any = None
        self._started_at = time.time()
        self._stopping = False

    # Called from the UI thread, or any thread (the quit paths).
    def cancel(self, reason: str = "cancelled by the user", now: bool = False) -> None:
        """Ask the run to stop; returns at once. The child records the run as cancelled
        with ``reason``. ``now``: the app is leaving and will not wait; the child still gets
        the reason through its cancel pipe (it interrupts its own native call after the
        flag's grace, and records itself on the way out), so it is signalled only when the
        pipe is gone: a signal that overtook the reason would record a generic one."""
        delivered = False
        if not self._cancel_requested.is_set():
            self._reason[0] = reason
            self._cancel_at = time.perf_counter()
            self._cancel_requested.set()
            self._thread_cancel.set()
        pipe = self._cancel_pipe
        if pipe is not None:
            try:
                pipe.send(self._reason[0])
                delivered = True
            except OSError:
                pass  # the child has ended, or its pipe has
        proc = self._proc
        if now and not delivered and proc is not None and proc.pid is not None:
            try:
                os.kill(proc.pid, signal.SIGUSR1)
            except ProcessLookupError:
                pass

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

        reporter = Reporter(self._emit, self._thread_cancel, reason=self._reason)
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
        # Pipes, not a Queue and an Event: no semaphores to leak when a process is killed.
        events, events_out = ctx.Pipe(duplex=False)
        cancel_in, self._cancel_pipe = ctx.Pipe(duplex=False)
        if self._cancel_requested.is_set():
            raise Cancelled("cancelled before it started")
        proc = ctx.Process(
            target=child_main, name="hrnet-wb-run", daemon=False,
            args=(self.profile.model_dump_json(), self.profile_path, str(self.home.root),
                  events_out, cancel_in),
        )
        self._started_at = time.time()
        proc.start()
        self._proc = proc
        events_out.close()  # the child's ends: EOF on ``events`` once the child has gone
        cancel_in.close()
        if self._cancel_requested.is_set():  # asked while it started
            self._cancel_pipe.send(self._reason[0])
        result: tuple[str, Any] | None = None
        escalation = 0  # 0 flag only, 1 signalled, 2 terminated
        while True:
            if not events.poll(0.05):
                escalation = self._escalate(proc, escalation)
                continue
            try:
                kind, payload = events.recv()
            except (EOFError, OSError):
                break  # the child has gone; everything it sent was read
            if kind == "event":
                self._emit(payload)
            else:
                result = (kind, payload)
                break
        events.close()
        proc.join(timeout=0.5)
        self._cancel_pipe.close()
        if proc.is_alive():  # reap it in the background; the result is already here
            threading.Thread(target=_reap, args=(proc,), daemon=True).start()
        if self._cancel_at is not None and self.outcome.cancel_latency_s is None:
            self.outcome.cancel_latency_s = time.perf_counter() - self._cancel_at
        if self._cancel_requested.is_set() and not self.outcome.stopped_by:
            self.outcome.stopped_by = ("flag", "signal", "terminate")[min(escalation, 2)]
        if result is not None and result[0] == "done":
            return dict(result[1])
        if self._cancel_requested.is_set():
            self._record_cancel_if_needed()
            raise Cancelled(self._reason[0])
        if result is None:
            code = proc.exitcode
            msg = (f"the run's process exited with code {code} before reporting; see "
                   f"{Path(self.home.cache) / CHILD_LOG}")
            self._record_failure_if_needed(msg)
            raise JobFailed(msg)
        name, message, exit_code = result[1]
        raise _rebuild_error(name, message, exit_code)

    def _escalate(self, proc: Any, escalation: int) -> int:
        """Flag → SIGUSR1 → terminate, each after its grace period."""
        if self._cancel_at is None:
            return escalation
        waited = time.perf_counter() - self._cancel_at
        if self._stopping and waited < 10:
            return escalation  # it stopped and is recording: never interrupt that
        if escalation == 0 and waited >= FLAG_GRACE_S:
            try:
                os.kill(proc.pid, signal.SIGUSR1)
            except ProcessLookupError:
                pass
            return 1
        if escalation == 1 and waited >= FLAG_GRACE_S + SIGNAL_GRACE_S:
            _signal_group(proc.pid, signal.SIGTERM)  # the run's process group
            proc.join(timeout=TERM_GRACE_S)
            if proc.is_alive():
                _signal_group(proc.pid, signal.SIGKILL)
            return 2
        return escalation

    def _record_cancel_if_needed(self) -> None:
        """The child was stopped before it recorded the run: record it, sweep temp files."""
        self._finish_in_store("cancelled", self._reason[0])
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


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


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
