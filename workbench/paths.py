"""User paths are checked at the door: a file must be a regular file, a folder a folder.

Opening a FIFO blocks until a writer appears and a device can stream forever, so every
read of a path the user typed goes through :func:`regular_file` (or :func:`folder`) first,
and the refusal names the path and what it is.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from workbench.errors import BadInput


def kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def _stat(path: str | Path, what: str) -> tuple[Path, os.stat_result]:
    """``path`` (``~`` expanded) and its stat (symlinks followed), or BadInput naming ``what``."""
    p = Path(path).expanduser()
    try:
        return p, os.stat(p)
    except FileNotFoundError:
        raise BadInput(f"{p}: {what} not found") from None
    except NotADirectoryError:
        raise BadInput(f"{p}: {what} not found (a parent is not a folder)") from None
    except OSError as exc:
        raise BadInput(f"{p}: cannot read the {what} ({exc.strerror or exc})") from None


def regular_file(path: str | Path, what: str = "file", max_bytes: int | None = None) -> Path:
    """``path`` if it is a readable regular file (symlinks followed), else BadInput."""
    p, st = _stat(path, what)
    if not stat.S_ISREG(st.st_mode):
        raise BadInput(f"{p}: expected a {what}, found {kind_of(st.st_mode)}")
    if not os.access(p, os.R_OK):
        raise BadInput(f"{p}: cannot read the {what} (permission denied)")
    if max_bytes is not None and st.st_size > max_bytes:
        raise BadInput(f"{p}: the {what} is {st.st_size / 2**20:.0f} MiB, more than the "
                       f"{max_bytes / 2**20:.0f} MiB a {what} can be")
    return p


def folder(path: str | Path, what: str = "folder") -> Path:
    """``path`` if it is an existing folder, else BadInput."""
    p, st = _stat(path, what)
    if not stat.S_ISDIR(st.st_mode):
        raise BadInput(f"{p}: expected a {what}, found {kind_of(st.st_mode)}")
    return p


def file_or_folder(path: str | Path, what: str) -> Path:
    """An existing regular file or folder (datasets are either); FIFOs and devices refused."""
    p, st = _stat(path, what)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise BadInput(f"{p}: expected a {what}, found {kind_of(st.st_mode)}")
    return p
