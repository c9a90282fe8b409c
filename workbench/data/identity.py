"""Canonical image identity: the SHA-256 of the file's bytes, whatever folder it sits in.

A sample's ``id`` comes from its layout (``ILSVRC2012_val_00000001.JPEG`` in a flat val
folder, ``n01440764/ILSVRC2012_val_00000001.JPEG`` in synset folders), so the same image
has different ids in different layouts. Everything that must recognise an image across
layouts — calibration exclusion, ``compare``, resume — keys on its content hash instead;
the path stays in every record for display.

The evaluator hashes the bytes it has already read for decoding (no second read); the
helpers here hash files up front when a decision is needed before decoding (which images
to leave out, which are already done).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from workbench.events import Reporter

#: The record field that holds an image's content hash (results.jsonl, calibration manifest).
HASH_FIELD = "sha256"
_CHUNK = 1 << 20


class SampleLike(Protocol):
    path: Path
    id: str


def content_hash_bytes(data: bytes) -> str:
    """Hex SHA-256 of bytes already in memory (hashlib releases the GIL on large inputs)."""
    return hashlib.sha256(data).hexdigest()


def content_hash(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes; "" when the file cannot be read (it will be skipped
    with its own reason when decoded)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
    except OSError:
        return ""
    return h.hexdigest()


def _hash_workers(workers: int) -> int:
    if workers > 0:
        return workers
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, 2 * cpus))  # mostly I/O: a few more threads than cores


def hash_samples(samples: Sequence[Any], *, workers: int = 0,
                 reporter: Reporter | None = None) -> dict[str, str]:
    """``{sample.id: content hash}`` for every sample, hashed in a thread pool.

    Unreadable files map to "" (they never match anything)."""
    if not samples:
        return {}
    rep = reporter or Reporter()
    out: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=_hash_workers(workers), thread_name_prefix="wb-hash") as pool:
        for i, (s, digest) in enumerate(zip(samples, pool.map(lambda s: content_hash(s.path), samples),
                                            strict=True)):
            out[str(s.id)] = digest
            if (i + 1) % 256 == 0:
                rep.check_cancelled()
    return out


def record_key(rec: dict[str, Any]) -> str:
    """The identity of a result record: its content hash when it has one, else its id."""
    digest = rec.get(HASH_FIELD)
    return f"{HASH_FIELD}:{digest}" if digest else f"id:{rec['id']}"
