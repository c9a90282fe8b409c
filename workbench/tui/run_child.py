"""The run's child process (see :mod:`workbench.tui.runner`): the same ``run_profile``,
its events sent back over a pipe, and every way the run can be asked to stop.

A cancel reaches the child as a reason on its cancel pipe (the app's ``c`` key, Ctrl+Q),
as EOF on that pipe (the app has gone, however it went), or as a signal: SIGUSR1 (the
parent's escalation after the flag), SIGTERM (a server stop, a kill) or SIGHUP. Each sets
the reporter's flag with its reason; a signal also interrupts a long native call. The run's
lifecycle then records it ``cancelled`` with that reason, and if even that does not happen
within a grace, the child records it itself and leaves.

This module imports neither textual nor the heavy stack (they load in ``child_main``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.events import Event, Failed, Reporter, RunFinished, RunStarted

Sink = Callable[[Event], None]

# After the cancel flag: wait this long for the pipeline to stop by itself, then SIGUSR1.
FLAG_GRACE_S = 0.5
# Where the child's native stdout/stderr go, under <home>/cache/.
CHILD_LOG = "tui-runs.log"


class CancelInterrupt(KeyboardInterrupt):
    """Raised in the child by a cancelling signal (SIGUSR1 after an unanswered cancel
    request, SIGTERM, SIGHUP); its message is the reason the run records, read when it is
    recorded: the parent's reason may reach the cancel pipe's reader just after the signal."""

    def __init__(self, reason: list[str]) -> None:
        super().__init__(reason[0])
        self.reason = reason

    def __str__(self) -> str:
        return self.reason[0]


# -- the child process ---------------------------------------------------------------

# The signals that cancel a child's run: SIGUSR1 from its parent (the escalation after the
# cancel flag), SIGTERM (a server stop, a kill) and SIGHUP (the terminal went: an SSH drop).
CANCEL_SIGNALS = {signal.SIGUSR1: "", signal.SIGTERM: "cancelled: SIGTERM",
                  signal.SIGHUP: "cancelled: SIGHUP (the terminal closed)"}
PARENT_GONE = "cancelled: the app closed"
GENERIC_REASON = "cancelled by the user"
# Once the cancel is set and its signal sent, how long the child lets its own run record
# itself before recording it here and leaving (a native call that never returns).
SELF_RECORD_S = 5.0


def child_main(profile_json: str, profile_path: str, home_root: str, events: Any,
                cancel: Any) -> None:
    """Entry point of the spawned child: the same ``run_profile``, events onto the
    ``events`` pipe. ``cancel`` is the read end of a pipe the parent writes a reason to;
    the parent ending (EOF) is a cancel too. The run records itself however it ends."""
    from workbench.home import resolve_home
    from workbench.pipeline import run_profile
    from workbench.profile import Profile

    # A process group of its own: a group-wide kill of the app's session (serve's SIGKILL
    # after a slow exit, a terminal's SIGHUP) must not end the run before it records itself;
    # the app's end reaches it as EOF on the cancel pipe instead.
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    flag = threading.Event()
    finishing = threading.Event()  # the run is recording how it ended: never interrupt that
    reason = [GENERIC_REASON]
    run_id: list[int] = []
    main_thread = threading.main_thread().ident

    def stop(why: str) -> None:
        # a reason given (the app's, a signal's) replaces the generic one, even after the
        # flag: the parent writes its reason, then signals, and the signal may win the race
        if why and (not flag.is_set() or reason[0] == GENERIC_REASON):
            reason[0] = why
        flag.set()

    def on_signal(sig: int, _frame: Any) -> None:
        # Once: never inside the recording that follows. It raises a KeyboardInterrupt,
        # not Cancelled: stages wrap native calls in ``except Exception`` (turning errors
        # into one-line BadInput), which must not swallow the interruption. The run's
        # lifecycle records it as "cancelled", with this reason, because the flag is set.
        for s in (*CANCEL_SIGNALS, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)
        stop(CANCEL_SIGNALS.get(signal.Signals(sig), ""))
        if not finishing.is_set():
            raise CancelInterrupt(reason)

    for sig in CANCEL_SIGNALS:
        signal.signal(sig, on_signal)
    # A stray Ctrl-C at the terminal (the child shares the app's process group) is not a
    # cancel: the app's own keys are.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _quiet_native_output(Path(home_root))

    def watch() -> None:
        try:
            stop(cancel.recv())
        except (EOFError, OSError):
            stop(PARENT_GONE)  # the app is gone (Ctrl+Q, a closed tab, a kill): cancel
        # The clean path is the flag; then interrupt a long native call; then, if even that
        # does not end the run, record it here and leave.
        time.sleep(FLAG_GRACE_S)
        if main_thread is not None and not finishing.is_set():
            signal.pthread_kill(main_thread, signal.SIGUSR1)
        time.sleep(SELF_RECORD_S)
        if finishing.is_set():
            time.sleep(2 * SELF_RECORD_S)  # it is recording its end: give that time
        if run_id:
            _close_in_store(home_root, run_id[0], "cancelled", reason[0])
        os._exit(130)

    threading.Thread(target=watch, daemon=True).start()

    def send(item: tuple[str, Any]) -> None:
        try:
            events.send(item)
        except OSError:
            pass  # the app has gone; the run still records itself in the store

    def sink(ev: Event) -> None:
        if isinstance(ev, RunStarted):
            run_id.append(ev.run_id)
        elif isinstance(ev, (Failed, RunFinished)):
            finishing.set()
        send(("event", ev))

    try:
        prof = Profile.model_validate_json(profile_json)
        record = run_profile(prof, resolve_home(home_root), Reporter(sink, flag, reason=reason),
                             profile_path)
        send(("done", record))
    except WorkbenchError as exc:
        send(("error", (type(exc).__name__, str(exc), exc.exit_code)))
    except KeyboardInterrupt:
        send(("error", ("Cancelled", reason[0], 130)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, never swallowed silently
        send(("error", (type(exc).__name__, f"{type(exc).__name__}: {exc}", 1)))
    # Everything is recorded and every file was written atomically; tearing down torch,
    # ORT and OpenVINO at interpreter exit takes seconds on a busy machine: leave at once.
    os._exit(0)


def _close_in_store(home_root: str, run_id: int, status: str, error: str) -> bool:
    """Record a run that is still 'running' as ``status`` (it could not record itself)."""
    from workbench.home import resolve_home
    from workbench.store import Store

    return Store(resolve_home(home_root).db).close_orphan(run_id, status, error, {
        "ok": False, "run_id": run_id, "status": status, "error": error})


def _quiet_native_output(home_root: Path) -> None:
    """Send the child's fd 1 and 2 to a log file: native libraries (ORT, OpenVINO) write
    warnings straight to the terminal, which would scribble over the TUI."""
    log = home_root / "cache" / CHILD_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


