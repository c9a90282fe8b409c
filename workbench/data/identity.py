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
import stat
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.events import Reporter
from workbench.hardware import usable_cpus

#: The record field that holds an image's content hash (results.jsonl, calibration manifest).
HASH_FIELD = "sha256"
_CHUNK = 1 << 20


def content_hash_bytes(data: bytes) -> str:
    """Hex SHA-256 of bytes already in memory (hashlib releases the GIL on large inputs)."""
    return hashlib.sha256(data).hexdigest()


def content_hash(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes; "" when the file cannot be read (it will be skipped
    with its own reason when decoded)."""
    h = hashlib.sha256()
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # never open a FIFO: it blocks
            return ""
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
    except OSError:
        return ""
    return h.hexdigest()


def _hash_workers(workers: int) -> int:
    if workers > 0:
        return workers
    return max(1, min(8, 2 * usable_cpus()))  # mostly I/O: a few more threads than cores


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


# -- calibration manifests -----------------------------------------------------------------

#: The file an int8 artifact keeps beside its model: one calibration image per line.
CALIBRATION_MANIFEST = "calibration_manifest.tsv"


@dataclass(frozen=True)
class CalibrationImages:
    """The content hashes of an artifact's calibration images, read from its manifest."""

    manifest: Path
    listed: int  # lines in the manifest
    hashes: frozenset[str]
    unhashed: int  # old manifests without a hash column whose files are gone: cannot match


def read_calibration_images(manifest: Path) -> CalibrationImages:
    """Read ``calibration_manifest.tsv`` (``id, label, path[, sha256]`` per line).

    Manifests written before the hash column existed are hashed from the listed paths
    where those files still exist."""
    listed = unhashed = 0
    hashes: set[str] = set()
    for line in manifest.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        listed += 1
        digest = parts[3].strip() if len(parts) > 3 else ""
        if not digest:
            digest = content_hash(parts[2])
        if digest:
            hashes.add(digest)
        else:
            unhashed += 1
    return CalibrationImages(manifest, listed, frozenset(hashes), unhashed)


def calibration_manifest_of(model_path: Path) -> Path | None:
    """The calibration manifest beside a built model file, if it has one (int8 builds)."""
    p = Path(model_path).parent / CALIBRATION_MANIFEST
    return p if p.is_file() else None


# -- data identity --------------------------------------------------------------------------


def dataset_identity(root: Path | str, layout: str, samples: Sequence[Any]) -> dict[str, str]:
    """What names a dataset on the leaderboard: its root, layout and a hash of its listing
    (every image id and label, before ``--limit`` or calibration exclusion), so a smoke
    test on the first 64 images has the same data identity as the full eval it precedes."""
    h = hashlib.sha256()
    for s in samples:
        h.update(f"{s.id}\t{'' if s.label is None else s.label}\n".encode())
    return {"data_root": str(root), "data_layout": layout, "data_hash": h.hexdigest()[:16]}
