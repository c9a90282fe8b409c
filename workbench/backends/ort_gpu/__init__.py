"""ONNX Runtime's CUDA provider: fp32 and fp16 (int8 on a GPU goes through TensorRT).
Built on any machine; runs only where a GPU and onnxruntime-gpu are present, through the
device runner it shares with tensorrt (:mod:`workbench.backends.ort_device`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from workbench.backends.base import Backend
from workbench.backends.ort_device import OrtDevicePredictor
from workbench.backends.status import BackendStatus, gpu_present, ort_providers
from workbench.runtime import Predictor

NAME = "ort-gpu"
PROVIDER = "CUDAExecutionProvider"


def gpu_status(name: str, provider: str, dtypes: tuple[str, ...], install: str) -> BackendStatus:
    """Runs here only with the provider *and* an NVIDIA device; builds work regardless."""
    providers, note = ort_providers()
    has_gpu, gpu_note = gpu_present()
    if provider not in providers:
        reason = f"{note} has no {provider} (install {install}); builds still work here"
        if not has_gpu:
            reason = f"{gpu_note}; {reason}"
        return BackendStatus(name, False, reason, dtypes)
    if not has_gpu:
        return BackendStatus(name, False, f"{gpu_note}; builds still work here", dtypes)
    return BackendStatus(name, True, f"{note}, {provider}, {gpu_note}", dtypes)


class OrtGpuBackend(Backend):
    name: ClassVar[str] = NAME
    runs_on_cpu: ClassVar[bool] = False
    dtypes: ClassVar[tuple[str, ...]] = ("fp32", "fp16")
    dtype_hints: ClassVar[dict[str, str]] = {
        "int8": "int8 on a GPU goes through TensorRT: use backend tensorrt"}

    def status(self) -> BackendStatus:
        return gpu_status(NAME, PROVIDER, self.dtypes, "onnxruntime-gpu")

    def open(self, path: Path, threads: int = 0, **options: Any) -> Predictor:
        return OrtDevicePredictor(path, threads, providers=[PROVIDER])

    def build_float(self, onnx_path: Path, dtype: str, out_dir: Path) -> tuple[Path, dict[str, Any]]:
        if dtype != "fp16":
            return super().build_float(onnx_path, dtype, out_dir)
        from workbench.backends.ort_gpu.fp16 import convert_fp16

        file = out_dir / "model.onnx"
        return file, {"calibration": None, "format": "onnx", "fp16": convert_fp16(onnx_path, file)}


BACKEND = OrtGpuBackend()
