"""Which device a torch-cuda artifact runs on, and what that device is.

``device="auto"`` is CUDA where torch sees a GPU, else the CPU: the same code then runs in
CI without a GPU, and only the CUDA-only parts (graphs, events, nvJPEG) step aside, each
with the reason. The GPU's description is part of every bench fingerprint, because a
figure from one GPU says nothing about another.
"""

from __future__ import annotations

import hashlib
import subprocess
from functools import lru_cache
from typing import Any

from workbench.errors import BadInput

DEVICES = ("auto", "cuda", "cpu")


def cuda_reason() -> str:
    """'' where CUDA can run here, else why not (one line)."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - a declared dependency
        return f"torch is not installed: {exc}"
    if not torch.backends.cuda.is_built():
        return f"torch {torch.__version__} is a CPU-only build"
    if not torch.cuda.is_available():
        return "torch.cuda.is_available() is false (no GPU or no driver here)"
    return ""


def resolve_device(device: str | None) -> str:
    """'cuda' or 'cpu' for ``auto`` / ``cuda`` / ``cpu`` (``cuda:N`` kept as given)."""
    d = (device or "auto").lower()
    if d == "auto":
        return "cuda" if not cuda_reason() else "cpu"
    if d.startswith("cuda"):
        why = cuda_reason()
        if why:
            raise BadInput(f"device {device!r}: {why}; use --device cpu")
        return d
    if d != "cpu":
        raise BadInput(f"device {device!r}: expected one of {', '.join(DEVICES)}")
    return d


def is_cuda(device: Any) -> bool:
    return str(device).startswith("cuda")


def _driver_version() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""


@lru_cache(maxsize=4)
def gpu_info(device: str = "cuda") -> dict[str, Any]:
    """Name, SM count, memory, driver, CUDA and torch versions of ``device`` ({} on a CPU)."""
    if not is_cuda(device):
        return {}
    import torch

    p = torch.cuda.get_device_properties(torch.device(device))
    info = {"name": p.name, "sm_count": int(p.multi_processor_count),
            "memory_mib": int(p.total_memory // 2**20),
            "capability": f"{p.major}.{p.minor}", "driver": _driver_version(),
            "cuda": str(torch.version.cuda), "torch": str(torch.__version__).split("+")[0]}
    info["fingerprint"] = gpu_fingerprint(info)
    return info


def gpu_fingerprint(info: dict[str, Any]) -> str:
    """``gpu-<10 hex>`` over what decides a GPU's speed (name, SMs, memory, driver, CUDA,
    torch): the key its limits are cached under and the suffix of a bench's fingerprint."""
    keys = ("name", "sm_count", "memory_mib", "capability", "driver", "cuda", "torch")
    text = "|".join(str(info.get(k, "")) for k in keys)
    return "gpu-" + hashlib.sha256(text.encode()).hexdigest()[:10]


def describe(device: str) -> str:
    info = gpu_info(device)
    if not info:
        return "CPU (no CUDA: " + (cuda_reason() or "asked for the CPU") + ")"
    return (f"{info['name']} ({info['sm_count']} SMs, {info['memory_mib']} MiB, driver "
            f"{info['driver'] or '?'}, CUDA {info['cuda']}, torch {info['torch']})")
