"""Per-key file locks and the sweep of temp files a killed process left behind.

Two ``hrnet-wb build`` processes asked for the same artifact must not both write it:
the first takes ``<home>/cache/locks/<key>.lock`` (``flock``, released by the kernel
when a process dies, so a ``kill -9`` never leaves a stuck lock), the others wait and
then find the finished build in the cache.

Temp names written by :mod:`workbench.atomic` carry the writer's pid
(``.<name>.<pid>.<random>``); :func:`sweep_stale` removes those whose process is gone or
that are older than a day.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from workbench.liveness import process_alive

STALE_AFTER_S = 24 * 3600
_PID_RE = re.compile(r"^\..+\.(\d+)\.[^.]+(?:\.[A-Za-z0-9]+)?$")


@contextlib.contextmanager
def file_lock(path: Path, *, on_wait: Callable[[], None] | None = None,
              check: Callable[[], None] | None = None, poll_s: float = 0.1) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed) for the ``with`` body.

    ``on_wait`` is called once if another process holds it; ``check`` on every poll, so a
    cancel can end the wait.
    """
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited and on_wait is not None:
                    on_wait()
                waited = True
                if check is not None:
                    check()
                time.sleep(poll_s)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def sweep_stale(folder: Path, max_age_s: float = STALE_AFTER_S, any_hidden: bool = False) -> list[Path]:
    """Remove ``.<name>.<pid>.<random>`` temp entries in ``folder`` whose pid is gone or
    that are older than ``max_age_s``; return what was removed. Never raises.

    ``any_hidden``: also remove other hidden entries older than ``max_age_s`` (temp names
    from before they carried a pid; only for folders where every hidden entry is ours)."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for e in entries:
        m = _PID_RE.match(e.name)
        if not m and not (any_hidden and e.name.startswith(".")):
            continue
        try:
            old = now - e.stat(follow_symlinks=False).st_mtime > max_age_s
        except OSError:
            continue
        pid = int(m.group(1)) if m else -1
        if pid == os.getpid() or (not old and (m is None or process_alive(pid))):
            continue
        try:
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(e.path)
            else:
                os.unlink(e.path)
            removed.append(Path(e.path))
        except OSError:
            continue
    return removed
