"""TensorRT through ONNX Runtime's TensorRT provider: fp32, fp16 and symmetric int8.
Built here; runs only where a GPU and the provider exist (see ``build.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from workbench.backends.base import Backend
from workbench.backends.ort_device import OrtDevicePredictor
from workbench.backends.ort_gpu import gpu_status
from workbench.backends.status import BackendStatus
from workbench.backends.tensorrt.build import provider_options
from workbench.runtime import Predictor

NAME = "tensorrt"
PROVIDER = "TensorrtExecutionProvider"


class TensorRtBackend(Backend):
    name: ClassVar[str] = NAME
    runs_on_cpu: ClassVar[bool] = False
    dtypes: ClassVar[tuple[str, ...]] = ("fp32", "fp16", "int8")
    int8_scheme: ClassVar[str] = "s8s8-symmetric"

    def status(self) -> BackendStatus:
        return gpu_status(NAME, PROVIDER, self.dtypes, "onnxruntime-gpu with TensorRT")

    def open(self, path: Path, threads: int = 0, **options: Any) -> Predictor:
        # The build records the EP options its artifact needs (trt_int8_enable, trt_fp16_enable).
        from workbench.records import ArtifactMeta

        try:
            opts = ArtifactMeta.read(path.parent).provider_options
        except ValueError:
            opts = {}
        opts = dict(opts)
        # Engines are built once per GPU and kept beside the artifact (ORT names each engine
        # by model hash and compute capability), so an open does not rebuild them.
        cache = path.parent / "trt_cache"
        cache.mkdir(exist_ok=True)
        opts.setdefault("trt_engine_cache_enable", True)
        opts.setdefault("trt_engine_cache_path", str(cache))
        opts.setdefault("trt_timing_cache_enable", True)
        opts.setdefault("trt_timing_cache_path", str(cache))
        return OrtDevicePredictor(path, threads, providers=[PROVIDER],
                            provider_options=[{k: str(v) for k, v in opts.items()}])

    def build_float(self, onnx_path: Path, dtype: str, out_dir: Path) -> tuple[Path, dict[str, Any]]:
        file, extra = super().build_float(onnx_path, dtype, out_dir)
        return file, {**extra, "provider_options": provider_options(dtype)}

    def finish_int8(self, qdq: Path, out_dir: Path) -> tuple[Path, dict[str, Any]]:
        return qdq, {"format": "onnx", "provider_options": provider_options("int8")}


BACKEND = TensorRtBackend()
