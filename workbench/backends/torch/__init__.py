"""torch eager fp32: the baseline every other figure is a ratio to. Never built."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from workbench.backends.base import Backend
from workbench.backends.status import BackendStatus
from workbench.errors import BadInput
from workbench.runtime import Predictor, resolve_threads

if TYPE_CHECKING:  # pragma: no cover
    import torch

NAME = "torch"


@dataclass
class TorchPredictor:
    """torch eager fp32: the baseline every other figure is a ratio to."""

    model: torch.nn.Module
    threads: int = 0
    backend: str = NAME

    def __post_init__(self) -> None:
        import torch

        torch.set_num_threads(resolve_threads(self.threads))
        self.model.eval()

    @property
    def cpu_threads(self) -> int:
        """CPU threads inference keeps busy (see OrtPredictor.cpu_threads)."""
        return resolve_threads(self.threads)

    def runtime_settings(self) -> Any:
        return torch_settings()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)))
        return out.float().numpy()


class TorchBackend(Backend):
    name: ClassVar[str] = NAME
    eager: ClassVar[bool] = True

    def status(self) -> BackendStatus:
        return BackendStatus(NAME, True, "eager fp32 baseline (not a build target)", ("fp32",), False)

    def open(self, path: Path, threads: int = 0, **options: Any) -> Predictor:
        raise BadInput("backend 'torch' runs a loaded model, not a file: bench it with --variant")


BACKEND = TorchBackend()


def torch_settings() -> Any:
    import torch

    from workbench.runtime_settings import RuntimeSettings

    return RuntimeSettings(runtime="torch", version=str(torch.__version__).split("+")[0],
                           inference_precision="f32", compute_precision="f32",
                           threads=int(torch.get_num_threads()), streams=1, hint="eager",
                           details={"inference_mode": True})
