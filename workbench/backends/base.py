"""The contract every backend package fills in, Polygraphy-style: one place per runtime
declares its name, whether it can run here, the dtypes it builds, how a float or int8
artifact is finished, how a built file is opened (a runner) and how bench streams are
opened (a group).

Nothing outside ``workbench.backends`` compares a backend name: it asks the backend.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from workbench.backends.status import BackendStatus
from workbench.errors import BadInput
from workbench.runtime import Predictor

#: Opens ``streams`` predictors sharing one compiled model on ``threads`` threads in total,
#: compiled for the grid point's static input ``shape`` (N, C, H, W).
StreamGroup = Callable[[int, int, tuple[int, ...]], list[Predictor]]


def copy_onnx(src: Path, dst: Path) -> None:
    """Copy an ONNX file (and its external-data sidecar, if the export wrote one)."""
    shutil.copyfile(src, dst)
    side = src.with_name(src.name + ".data")
    if side.is_file():
        shutil.copyfile(side, dst.with_name(dst.name + ".data"))


class DeviceOutOfMemory(BadInput):
    """A batch that does not fit the device: one line naming the batch and the memory.
    Bench records it for that grid point and goes on with the others."""

    def __init__(self, batch: int, memory: str, reason: str = "") -> None:
        self.batch, self.memory = batch, memory
        super().__init__(f"out of device memory at batch {batch} ({memory})")


class Backend:
    """One runtime + device. Subclasses set the class attributes and override what differs."""

    name: ClassVar[str] = ""
    #: dtypes this backend builds (the torch baseline builds none)
    dtypes: ClassVar[tuple[str, ...]] = ()
    #: why a dtype is not offered, when there is more to say than "it builds X"
    dtype_hints: ClassVar[dict[str, str]] = {}
    #: the QDQ scheme of its int8 artifact ("u8s8" for x86 CPUs, TensorRT's is symmetric)
    int8_scheme: ClassVar[str] = "u8s8"
    #: the eager torch baseline: measured beside builds, never built
    eager: ClassVar[bool] = False
    #: runs on this machine's CPU (build-time checks such as agreement need that)
    runs_on_cpu: ClassVar[bool] = True
    #: builds from the loaded torch model (``build_float(..., model=...)``), not the ONNX
    needs_model: ClassVar[bool] = False
    #: bf16 runs on this machine's CPU ISA (a CPU bf16 build checks the CPU and OpenVINO)
    bf16_on_cpu_isa: ClassVar[bool] = True
    #: file suffixes this backend opens when a bare file is given
    suffixes: ClassVar[tuple[str, ...]] = ()

    @property
    def buildable(self) -> bool:
        return bool(self.dtypes)

    def status(self) -> BackendStatus:  # pragma: no cover - every backend overrides it
        raise NotImplementedError

    def open(self, path: Path, threads: int = 0, **options: Any) -> Predictor:
        """A runner for a built file: ``predict(float32 NCHW) -> float32 logits``."""
        raise NotImplementedError(f"{self.name} opens no files")

    def stream_group(self, path: Path) -> StreamGroup | None:
        """How bench opens N streams, when the runtime shares one compiled model between
        them; ``None``: N independent predictors."""
        return None

    def build_float(self, onnx_path: Path, dtype: str, out_dir: Path) -> tuple[Path, dict[str, Any]]:
        """Write the fp32 / fp16 artifact into ``out_dir``; return (file, meta fields).
        Default: the exported ONNX as is (graph optimisation happens at load time)."""
        file = out_dir / "model.onnx"
        copy_onnx(onnx_path, file)
        return file, {"calibration": None, "format": "onnx",
                      "optimized_at": "load time (ORT_ENABLE_ALL, sequential)"}

    def finish_int8(self, qdq: Path, out_dir: Path) -> tuple[Path, dict[str, Any]]:
        """Turn the QDQ int8 ONNX written in ``out_dir`` into this backend's artifact."""
        return qdq, {"format": "onnx"}
