"""The artifact cache: names, content keys, and finding what was already built.

An artifact is ``<home>/artifacts/<name>-<key[:12]>/`` holding the runnable file(s) and
``meta.json``. The key is a sha256 over everything that decides the bytes of the build
(the ONNX file, the weights id, export settings, the recipe, the calibration manifest and
the preprocessing that fed calibration), so the same recipe twice finds the first build
and a changed input never reuses a stale one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

#: Bump when a recipe's output changes for the same inputs (new quantizer settings...).
BUILD_FORMAT = 2


def artifact_name(model_name: str, dtype: str, calib: str, input_size: tuple[int, int],
                  backend: str, channels: int = 3) -> str:
    """``{model}-{dtype}-{calib}-{C}_{H}_{W}-{backend}``, as the seed and VastAI name builds."""
    from workbench.records import ArtifactId

    return ArtifactId(model_name, dtype, calib, (int(input_size[0]), int(input_size[1])), backend,
                      channels).name


def file_sha256(path: Path, chunk: int = 2**20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def graph_sha256(onnx_path: Path) -> str:
    """sha256 of an ONNX model's content with its ``metadata_props`` left out.

    The export writes measurements there (the parity cosine differs in the last digits
    between machines and processes); a key must come from the weights, the graph and the
    recipe alone, so the same model exported twice gets one key."""
    import onnx

    proto = onnx.load(str(onnx_path), load_external_data=False)
    del proto.metadata_props[:]
    return hashlib.sha256(proto.SerializeToString(deterministic=True)).hexdigest()


def content_key(fields: dict[str, Any]) -> str:
    payload = json.dumps({"format": BUILD_FORMAT, **fields}, sort_keys=True,
                         separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def artifact_dir(artifacts_root: Path, name: str, key: str) -> Path:
    return artifacts_root / f"{name}-{key[:12]}"


def read_meta(directory: Path) -> dict[str, Any] | None:
    """The meta.json of a finished build, or None if absent/unreadable (treated as a miss)."""
    from workbench.records import ArtifactMeta

    try:
        return ArtifactMeta.read(directory).raw
    except ValueError:
        return None


def lookup(artifacts_root: Path, name: str, key: str) -> dict[str, Any] | None:
    """Return the stored meta when a complete build with this key exists, else None."""
    d = artifact_dir(artifacts_root, name, key)
    meta = read_meta(d)
    if meta is None or meta.get("key") != key:
        return None
    if not (d / str(meta.get("file", ""))).is_file():
        return None
    return meta


def verify(directory: Path, meta: dict[str, Any]) -> str | None:
    """Why a cached build cannot be trusted (size or sha256 differ from its meta.json), or
    None when it checks out. Cheap enough (one sha256 pass) to run on every cache hit."""
    files = [str(f) for f in (meta.get("files") or [meta.get("file", "")])]
    sizes: dict[str, int] = {}
    for f in files:
        p = directory / f
        if not p.is_file():
            return f"{f} is missing"
        sizes[f] = p.stat().st_size
    want = meta.get("file_bytes")
    if isinstance(want, int) and sum(sizes.values()) != want:
        return f"size {sum(sizes.values())} bytes, meta.json says {want}"
    hashes = dict(meta.get("files_sha256") or {})
    hashes.setdefault(str(meta.get("file", "")), meta.get("file_sha256"))
    for f, sha in hashes.items():
        if not sha:
            return f"meta.json has no sha256 for {f}"
        got = file_sha256(directory / f) if (directory / f).is_file() else ""
        if got != sha:
            return f"{f} sha256 {got[:12] or 'missing'} differs from meta.json's {str(sha)[:12]}"
    return None
