"""What ``hrnet-wb bench X`` measures: what the one resolver
(:func:`workbench.build.resolve.resolve_artifact`) finds, on the backend asked for, or the
torch eager model of a variant; ``bench`` accepts the names ``eval``, the leaderboard and
``hrnet-wb build`` print.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from workbench.backends import (
    BASELINE_BACKEND,
    DEFAULT_BACKEND,
    backend_for_file,
    backend_names,
    is_baseline,
)
from workbench.build.resolve import ResolvedTarget, resolve_artifact
from workbench.errors import BadInput
from workbench.home import Home
from workbench.store import Store


def _file_key(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "file-" + h.hexdigest()[:16]


def resolve_target(ref: str | None, home: Home, *, backend: str | None = None,
                   variant: str | None = None, input_size: tuple[int, int] | None = None,
                   ) -> ResolvedTarget:
    """What ``ref`` names (:func:`workbench.build.resolve.resolve_artifact`), on ``backend``;
    ``ref=None`` with ``backend='torch'`` means the torch eager model of ``variant``."""
    if backend is not None and backend not in backend_names():
        raise BadInput(f"--backend {backend!r}: expected one of {', '.join(backend_names())}")
    if ref is None:
        if backend is None or not is_baseline(backend):
            raise BadInput("bench: give an artifact (name, key, folder or .onnx/.xml file), "
                           "or --backend torch --variant NAME, or --compare-backends")
        if not variant:
            raise BadInput("--backend torch needs --variant (e.g. hrnet_w18)")
        return ResolvedTarget(f"{variant}-torch-eager-fp32", None, BASELINE_BACKEND,
                              input_size or (224, 224), variant=variant, dtype="fp32")
    if backend is not None and is_baseline(backend):
        raise BadInput("--backend torch measures the eager model of --variant; "
                       "do not also give an artifact")
    t = resolve_artifact(ref, home, input_size=input_size)
    assert t.path is not None
    chosen = backend or t.backend
    file_backend = backend_for_file(t.path)
    if file_backend != DEFAULT_BACKEND and chosen != file_backend:
        raise BadInput(f"{t.path}: a {t.path.suffix} file runs only on --backend {file_backend}")
    t.artifact_key = t.artifact_key or _file_key(t.path)
    if chosen != t.backend:  # the same file on another runtime is another build
        t.label, t.artifact_key, t.in_store = f"{t.label}@{chosen}", f"{t.artifact_key}@{chosen}", False
    t.backend, t.input_size = chosen, input_size or t.size
    t.variant = variant or t.variant
    return t


def register(store: Store, t: ResolvedTarget) -> None:
    """Make sure the leaderboard can join this target's metrics with its build config."""
    if t.in_store or not t.artifact_key or t.path is None:
        return
    h, w = t.size
    store.add_artifact(t.artifact_key, t.label, "file" if not t.meta else "artifact", str(t.path),
                       source=t.source, variant=t.variant, weights=t.weights, backend=t.backend,
                       dtype=t.dtype, calibration=t.calibration, input_size=f"{h}x{w}",
                       meta=t.meta or None)


def artifact_target(label: str, path: str | Path, backend: str, gmacs: float | None = None) -> Any:
    """A bench target for a built file: streams share one compiled model where the backend
    offers a stream group (OpenVINO's N infer requests), else N sessions."""
    from workbench.backends import get_backend, open_predictor
    from workbench.bench.grid import BenchTarget

    p = str(path)

    def factory(threads: int) -> Any:
        return open_predictor(p, backend, threads)

    return BenchTarget(label, factory, p, gmacs, get_backend(backend).stream_group(Path(p)))
