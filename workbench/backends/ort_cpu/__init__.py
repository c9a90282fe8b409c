"""ONNX Runtime on the CPU: fp32 (the exported ONNX, optimised at load) and QDQ int8."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from workbench.backends.base import Backend
from workbench.backends.ort_cpu.predictor import OrtPredictor
from workbench.backends.status import BackendStatus, ort_providers
from workbench.runtime import Predictor

NAME = "ort-cpu"

__all__ = ["BACKEND", "NAME", "OrtPredictor"]


class OrtCpuBackend(Backend):
    name: ClassVar[str] = NAME
    dtypes: ClassVar[tuple[str, ...]] = ("fp32", "int8")
    dtype_hints: ClassVar[dict[str, str]] = {
        "fp16": "fp16 has no CPU kernels here (1.46× slower than fp32); build fp16 for ort-gpu "
                "or tensorrt"}
    suffixes: ClassVar[tuple[str, ...]] = (".onnx",)

    def status(self) -> BackendStatus:
        providers, note = ort_providers()
        if "CPUExecutionProvider" in providers:
            return BackendStatus(NAME, True, f"{note}, CPUExecutionProvider", self.dtypes)
        return BackendStatus(NAME, False, note, self.dtypes, bool(providers))

    def open(self, path: Path, threads: int = 0, **options: Any) -> Predictor:
        return OrtPredictor(path, threads)


BACKEND = OrtCpuBackend()
