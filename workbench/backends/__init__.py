"""Backends: one package per runtime, found through this registry.

Each package (``ort_cpu``, ``openvino_cpu``, ``ort_gpu``, ``tensorrt``, ``torch``,
``torch_cuda``) holds a
:class:`~workbench.backends.base.Backend` declaring its name, availability, dtypes, build
steps, runner and bench stream group. Callers look a backend up by name and ask it;
no module outside this package compares backend names. Heavy runtimes load lazily, inside
the methods that need them, so importing this package is cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.backends import openvino_cpu, ort_cpu, ort_gpu, tensorrt, torch_cuda
from workbench.backends import torch as torch_eager
from workbench.backends.base import Backend, StreamGroup
from workbench.backends.status import BackendStatus
from workbench.errors import BadInput
from workbench.runtime import Predictor

__all__ = [
    "BASELINE_BACKEND",
    "DEFAULT_BACKEND",
    "SIDE_BY_SIDE",
    "Backend",
    "BackendStatus",
    "StreamGroup",
    "available_backends",
    "backend_for_file",
    "model_suffixes",
    "build_backend_names",
    "get_backend",
    "is_baseline",
    "open_predictor",
]

_REGISTRY: dict[str, Backend] = {
    b.name: b for b in (torch_eager.BACKEND, ort_cpu.BACKEND, openvino_cpu.BACKEND,
                        ort_gpu.BACKEND, tensorrt.BACKEND, torch_cuda.BACKEND)
}

#: what a bare ONNX file or an unspecified build runs on
DEFAULT_BACKEND = ort_cpu.NAME
#: the eager torch baseline's backend name
BASELINE_BACKEND = torch_eager.NAME

#: ``bench --compare-backends``: label -> (backend, dtype), in the table's order
SIDE_BY_SIDE: dict[str, tuple[str, str]] = {
    "torch-eager-fp32": (BASELINE_BACKEND, "fp32"),
    "ort-fp32": (ort_cpu.NAME, "fp32"),
    "ort-int8": (ort_cpu.NAME, "int8"),
    "openvino-fp32": (openvino_cpu.NAME, "fp32"),
    "openvino-bf16": (openvino_cpu.NAME, "bf16"),
    "openvino-int8": (openvino_cpu.NAME, "int8"),
}


def backend_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def build_backend_names() -> tuple[str, ...]:
    """Backends that build artifacts (every one but the eager baseline)."""
    return tuple(n for n, b in _REGISTRY.items() if b.buildable)


def get_backend(name: str) -> Backend:
    b = _REGISTRY.get(name)
    if b is None:
        raise BadInput(f"unknown backend {name!r}; expected {', '.join(build_backend_names())}"
                       f" (or {BASELINE_BACKEND} for the eager baseline)")
    return b


def is_baseline(name: str) -> bool:
    """The eager torch baseline (measured beside builds, never built)."""
    b = _REGISTRY.get(name)
    return b is not None and b.eager


def backend_for_file(path: str | Path) -> str:
    """The backend a bare built file runs on by default, from its suffix."""
    suffix = Path(path).suffix.lower()
    return next((b.name for b in _REGISTRY.values() if suffix in b.suffixes), DEFAULT_BACKEND)


def model_suffixes() -> tuple[str, ...]:
    """The suffixes of the files some backend runs (.onnx, .xml, .safetensors)."""
    return tuple(dict.fromkeys(s for b in _REGISTRY.values() for s in b.suffixes))


def available_backends() -> list[BackendStatus]:
    """Every backend the workbench knows, available or not, with the reason."""
    return [b.status() for b in _REGISTRY.values()]


def backend_status(name: str) -> BackendStatus | None:
    b = _REGISTRY.get(name)
    return None if b is None else b.status()


def open_predictor(path: str | Path, backend: str, threads: int = 0, **options: Any) -> Predictor:
    """Open a built artifact for inference on ``backend``.

    A file the runtime cannot load (truncated, unknown op, IR too new) is BadInput with the
    runtime's reason in one line, never a traceback."""
    from workbench.boundary import runtime_reason
    from workbench.errors import WorkbenchError
    from workbench.paths import regular_file

    path = regular_file(path, "artifact file")
    b = get_backend(backend)
    try:
        return b.open(path, threads, **options)
    except (WorkbenchError, KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:
        raise BadInput(f"{path}: {backend} cannot load this model ({runtime_reason(exc)})") from None
