"""What a backend reports about this machine: can it run here, and if not, why.

Building needs only the Python packages (ONNX Runtime's quantizer, OpenVINO's converter),
so every recipe can be built on a CPU-only machine. Running needs the runtime *and* the
device. A backend that cannot run is listed with the reason; nothing is ever faked.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BackendStatus:
    name: str
    available: bool
    reason: str
    dtypes: tuple[str, ...] = ()
    buildable: bool = True
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["dtypes"] = list(self.dtypes)
        return d


def gpu_present() -> tuple[bool, str]:
    """An NVIDIA device node is the cheapest honest check; no driver query, no CUDA init."""
    nodes = sorted(str(p) for p in Path("/dev").glob("nvidia[0-9]*"))
    if nodes:
        return True, f"NVIDIA device {nodes[0]}"
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return False, "CUDA_VISIBLE_DEVICES is empty"
    return False, "no NVIDIA GPU on this machine (/dev/nvidia* absent)"


def ort_providers() -> tuple[list[str], str]:
    """ONNX Runtime's execution providers here, and a note naming its version."""
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - declared dependency
        return [], f"onnxruntime is not installed: {exc}"
    return list(ort.get_available_providers()), f"onnxruntime {ort.__version__}"
