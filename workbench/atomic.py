"""Atomic file writes: write beside the target, fsync, then rename over it.

A killed or cancelled process therefore leaves either the old file or the new one,
never a half-written artifact.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temp path in the target's folder; rename it onto ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or ".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            with open(tmp_path, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a temp folder beside ``target``; swap it into place on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_text(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: str | Path, data: Any) -> None:
    write_text(target, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def sweep_temp_files(folders: list[Path], since: float) -> int:
    """Remove what ``workbench.atomic`` leaves when a writer is killed mid-write.

    ``atomic_path`` / ``atomic_dir`` create ``.<target name>.<random>`` entries beside the
    target and rename them over it at the end; a killed process leaves them behind. Only
    entries created after ``since`` (this run's start) are touched, so another process's
    run that started earlier is never disturbed.
    """
    removed = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.rglob(".*"):
            try:
                st = path.lstat()
            except OSError:
                continue
            if st.st_mtime < since - 1 or not _looks_atomic_temp(path):
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed += 1
    return removed


_ATOMIC_TEMP = re.compile(r"^\.[^/]+\.[a-z0-9_]{8}(\.[A-Za-z0-9_]+)?$")


def _looks_atomic_temp(path: Path) -> bool:
    """``.<target name>.<8 random chars>[suffix]``, as tempfile.mkstemp/mkdtemp name them."""
    return bool(_ATOMIC_TEMP.match(path.name))
