"""The one error boundary: any exception → one line, an exit code, and (for bugs) a crash log.

Both front ends end here. ``classify`` decides what an exception means for the user:

- exit 2: bad input or environment (a ``BadInput``, an unreadable/unwritable path, a full
  disk, a corrupt store, a busy port, a file that is not what it claims to be);
- exit 1: a failed check (``CheckFailed``);
- exit 130: interrupted;
- exit 3: anything else, which is a bug in the workbench. Its traceback goes to a crash
  log (never to the terminal unless ``HRNET_WB_DEBUG=1``) and the line names that log.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import WorkbenchError

#: Exit codes, as documented in the README and ``hrnet-wb --help``.
EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130

_OS_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOENT: "no such file or directory",
    errno.ENOTDIR: "a path component is not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.EEXIST: "already exists",
    errno.EADDRINUSE: "address already in use (is the port busy?)",
    errno.EADDRNOTAVAIL: "cannot bind that address on this machine",
    errno.ENAMETOOLONG: "file name too long",
    errno.EMFILE: "too many open files",
    errno.ENXIO: "no such device or address",
    errno.ELOOP: "too many levels of symbolic links",
}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread is, so ``finally`` blocks remove temp files and
    the run is recorded as interrupted (the default action would kill without either)."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While active, SIGTERM raises :class:`Terminated` in the main thread (if nobody else
    installed a handler)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Terminated("terminated (SIGTERM)")

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@dataclass(frozen=True)
class Failure:
    """What the user sees: one line and an exit code; ``internal`` failures get a crash log."""

    message: str
    exit_code: int
    internal: bool = False


def one_line(text: str, limit: int = 600) -> str:
    """Collapse a message to one line (tracebacks and multi-line errors never reach the user)."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def runtime_reason(exc: BaseException, limit: int = 300) -> str:
    """A runtime's (ORT, OpenVINO) error as one short line: OpenVINO prefixes each frame with
    'Exception from src/...cpp:N:', which says nothing to a user."""
    import re

    text = re.sub(r"Exception from \S+:\d+:?", " ", str(exc))
    text = re.sub(r"\[\s*\w+\s*\]", " ", text)  # ORT's '[ONNXRuntimeError]' style tags
    return one_line(f"{type(exc).__name__}: {text.strip() or 'no message'}", limit)


def _os_message(exc: OSError) -> str:
    reason = _OS_REASONS.get(exc.errno or -1) or exc.strerror or type(exc).__name__
    where = " -> ".join(str(p) for p in (exc.filename, exc.filename2) if p)
    return f"{where}: {reason}" if where else reason


def classify(exc: BaseException) -> Failure:
    """Map one exception to what the user is told. Never raises."""
    if isinstance(exc, WorkbenchError):
        return Failure(one_line(str(exc)) or type(exc).__name__, int(exc.exit_code))
    if isinstance(exc, Terminated):
        return Failure("terminated (SIGTERM)", EXIT_INTERRUPTED)
    if isinstance(exc, KeyboardInterrupt):
        return Failure("interrupted", EXIT_INTERRUPTED)
    if isinstance(exc, MemoryError):
        return Failure("out of memory: use a smaller batch, input size or image count", EXIT_BAD_INPUT)
    if isinstance(exc, OSError):
        import socket

        if isinstance(exc, socket.gaierror):
            return Failure(one_line(f"cannot resolve host: {exc.strerror or exc}"), EXIT_BAD_INPUT)
        return Failure(one_line(_os_message(exc)), EXIT_BAD_INPUT)
    import sqlite3

    if isinstance(exc, (sqlite3.DatabaseError, sqlite3.OperationalError)) and not isinstance(
            exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)):
        return Failure(one_line(f"the run store is unusable: {exc}"), EXIT_BAD_INPUT)
    return Failure(one_line(f"internal error ({type(exc).__name__}: {exc})"), EXIT_INTERNAL, internal=True)


def debug_enabled() -> bool:
    return os.environ.get("HRNET_WB_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def _home_in(argv: list[str] | None) -> str:
    """The ``--home`` of a command line (the last one given), or ''."""
    args = list(argv if argv is not None else sys.argv[1:])
    found = ""
    for i, a in enumerate(args):
        if a == "--home" and i + 1 < len(args):
            found = args[i + 1]
        elif a.startswith("--home="):
            found = a.split("=", 1)[1]
    return found


def crash_dir(argv: list[str] | None = None) -> Path:
    """``$HRNET_WB_CRASH_DIR``, else ``<home>/logs`` of the command's ``--home`` or
    ``$HRNET_WB_HOME`` (state stays where the user put it), else the user's log folder."""
    env = os.environ.get("HRNET_WB_CRASH_DIR")
    if env:
        return Path(env).expanduser()
    home = _home_in(argv) or os.environ.get("HRNET_WB_HOME", "")
    if home:
        return Path(home).expanduser() / "logs"
    try:
        import platformdirs

        return Path(platformdirs.user_log_dir("hrnet-wb", appauthor=False))
    except Exception:  # pragma: no cover - platformdirs ships with the workbench
        return Path(tempfile.gettempdir()) / "hrnet-wb-logs"


def write_crash_log(exc: BaseException, argv: list[str] | None = None) -> Path | None:
    """Write the traceback to a new crash log; return its path (None if nowhere is writable)."""
    text = (f"hrnet-wb crash at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}, pid {os.getpid()}\n"
            f"argv: {argv if argv is not None else sys.argv}\n"
            f"python: {sys.version.split()[0]}\n\n"
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    for folder in (crash_dir(argv), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
            return path
        except OSError:
            continue
    return None


def describe(exc: BaseException, argv: list[str] | None = None) -> Failure:
    """``classify`` plus the crash log for internal errors (its path joins the message)."""
    f = classify(exc)
    if not f.internal:
        return f
    log = write_crash_log(exc, argv)
    where = f"; traceback in {log}" if log else ""
    return Failure(f"{f.message}{where} (please report it; HRNET_WB_DEBUG=1 shows it here)",
                   f.exit_code, internal=True)
