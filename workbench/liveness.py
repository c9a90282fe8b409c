"""Whether a process is still there, for the records that name one.

A run in the store records its pid and start time, and an atomic temp file carries its
writer's pid in its name; both ask this module whether that process lives, so a run whose
process was killed reads as 'died' and a killed writer's temp file can be swept.
"""

from __future__ import annotations

import os


def process_start(pid: int) -> str:
    """The kernel's start time of ``pid`` (Linux), so a reused pid is not mistaken for a run's."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def process_alive(pid: int | None, start: str = "") -> bool:
    """Whether process ``pid`` exists (and, when ``start`` is given, is the same process:
    same kernel start time). A process owned by someone else counts as alive."""
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
    return not start or process_start(pid) in ("", start)
