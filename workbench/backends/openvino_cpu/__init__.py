"""OpenVINO on the CPU: IR converted from the fp32 ONNX or from ORT's QDQ int8 ONNX.

Bench streams are one compiled model with N infer requests (``streams.py``), the way
benchmark_app runs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from workbench.backends.base import Backend, StreamGroup
from workbench.backends.openvino_cpu.predictor import OpenVinoPredictor
from workbench.backends.status import BackendStatus
from workbench.runtime import Predictor

NAME = "openvino-cpu"

__all__ = ["BACKEND", "NAME", "OpenVinoPredictor"]


class OpenVinoCpuBackend(Backend):
    name: ClassVar[str] = NAME
    dtypes: ClassVar[tuple[str, ...]] = ("fp32", "bf16", "int8")
    dtype_hints: ClassVar[dict[str, str]] = {
        "fp16": "OpenVINO CPU builds fp32, bf16 (where the CPU has it) or int8"}
    suffixes: ClassVar[tuple[str, ...]] = (".xml",)

    def status(self) -> BackendStatus:
        try:
            import openvino as ov
        except ImportError as exc:
            return BackendStatus(NAME, False, f"openvino is not installed: {exc}", self.dtypes, False)
        devices = ov.Core().available_devices
        if "CPU" in devices:
            from workbench.hardware import bf16_support, openvino_capabilities

            bf16_ok, bf16_why = bf16_support()
            dtypes = tuple(d for d in self.dtypes if d != "bf16" or bf16_ok)
            return BackendStatus(
                NAME, True, f"openvino {ov.__version__}, CPU plugin; bf16: "
                + ("yes" if bf16_ok else "no") + f" ({bf16_why})", dtypes,
                details={"devices": devices, "bf16": bf16_ok, "bf16_reason": bf16_why,
                         "optimization_capabilities": list(openvino_capabilities() or ())})
        return BackendStatus(NAME, False, f"OpenVINO sees no CPU device ({devices})", self.dtypes)

    def open(self, path: Path, threads: int = 0, **options: Any) -> Predictor:
        return OpenVinoPredictor(path, threads, **options)

    def stream_group(self, path: Path) -> StreamGroup:
        from workbench.backends.openvino_cpu.streams import openvino_streams

        def group(streams: int, threads: int, shape: tuple[int, ...]) -> list[Predictor]:
            return list(openvino_streams(path, streams, threads, shape=shape))

        return group

    def build_float(self, onnx_path: Path, dtype: str, out_dir: Path) -> tuple[Path, dict[str, Any]]:
        from workbench.backends.openvino_cpu.build import convert_to_ir
        from workbench.backends.openvino_cpu.settings import ov_precision_hint

        # bf16 is the fp32 IR run with INFERENCE_PRECISION_HINT=bf16: the dtype selects it
        return convert_to_ir(onnx_path, out_dir / "model.xml"), {
            "calibration": None, "format": "openvino-ir",
            "inference_precision_hint": ov_precision_hint(dtype)}

    def finish_int8(self, qdq: Path, out_dir: Path) -> tuple[Path, dict[str, Any]]:
        from workbench.backends.openvino_cpu.build import convert_to_ir

        xml = convert_to_ir(qdq, out_dir / "model.xml")
        qdq.rename(out_dir / "model.qdq.onnx")
        return xml, {"format": "openvino-ir", "qdq_onnx": "model.qdq.onnx"}


BACKEND = OpenVinoCpuBackend()
