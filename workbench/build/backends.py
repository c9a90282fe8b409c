"""Which backends can be built and which can run here, each with the reason.

Building needs only the Python packages (ONNX Runtime's quantizer, OpenVINO's converter),
so every recipe can be built on a CPU-only machine. Running needs the runtime *and* the
device. A backend that cannot run is listed with the reason; nothing is ever faked.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: backend -> dtypes it builds
RECIPES: dict[str, tuple[str, ...]] = {
    "ort-cpu": ("fp32", "int8"),
    "openvino-cpu": ("fp32", "bf16", "int8"),
    "ort-gpu": ("fp32", "fp16"),
    "tensorrt": ("fp32", "fp16", "int8"),
}


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


def _ort_providers() -> tuple[list[str], str]:
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - declared dependency
        return [], f"onnxruntime is not installed: {exc}"
    return list(ort.get_available_providers()), f"onnxruntime {ort.__version__}"


def available_backends() -> list[BackendStatus]:
    """Every backend the workbench knows, available or not, with the reason."""
    out: list[BackendStatus] = [
        BackendStatus("torch", True, "eager fp32 baseline (not a build target)", ("fp32",), False),
    ]
    providers, ort_note = _ort_providers()
    if "CPUExecutionProvider" in providers:
        out.append(BackendStatus("ort-cpu", True, f"{ort_note}, CPUExecutionProvider",
                                 RECIPES["ort-cpu"]))
    else:
        out.append(BackendStatus("ort-cpu", False, ort_note, RECIPES["ort-cpu"], bool(providers)))
    try:
        import openvino as ov

        devices = ov.Core().available_devices
        if "CPU" in devices:
            from workbench.hardware import bf16_support, openvino_capabilities

            bf16_ok, bf16_why = bf16_support()
            dtypes = tuple(d for d in RECIPES["openvino-cpu"] if d != "bf16" or bf16_ok)
            out.append(BackendStatus(
                "openvino-cpu", True, f"openvino {ov.__version__}, CPU plugin; bf16: "
                + ("yes" if bf16_ok else "no") + f" ({bf16_why})", dtypes,
                details={"devices": devices, "bf16": bf16_ok, "bf16_reason": bf16_why,
                         "optimization_capabilities": list(openvino_capabilities() or ())}))
        else:
            out.append(BackendStatus("openvino-cpu", False, f"OpenVINO sees no CPU device ({devices})",
                                     RECIPES["openvino-cpu"]))
    except ImportError as exc:
        out.append(BackendStatus("openvino-cpu", False, f"openvino is not installed: {exc}",
                                 RECIPES["openvino-cpu"], False))
    has_gpu, gpu_note = gpu_present()
    for name, provider in (("ort-gpu", "CUDAExecutionProvider"),
                           ("tensorrt", "TensorrtExecutionProvider")):
        if provider not in providers:
            reason = (f"{ort_note} has no {provider} (install onnxruntime-gpu"
                      f"{' with TensorRT' if name == 'tensorrt' else ''}); builds still work here")
            if not has_gpu:
                reason = f"{gpu_note}; {reason}"
            out.append(BackendStatus(name, False, reason, RECIPES[name]))
        elif not has_gpu:
            out.append(BackendStatus(name, False, f"{gpu_note}; builds still work here", RECIPES[name]))
        else:
            out.append(BackendStatus(name, True, f"{ort_note}, {provider}, {gpu_note}", RECIPES[name]))
    return out


def backend_status(name: str) -> BackendStatus | None:
    return next((b for b in available_backends() if b.name == name), None)
