"""torch-cuda: the canonical model run by PyTorch itself, on the GPU a user already has.

A GPU user's machine often has torch, torchvision and timm and nothing else that reaches
the GPU (onnxruntime-gpu and TensorRT wheels are hundreds of MB). This backend builds from
the loaded model (not the ONNX): fp32, tf32, fp16 or bf16, channels_last, BatchNorm folded,
run eager, as CUDA graphs (one per static batch) or through ``torch.compile``. The same
code runs with ``device="cpu"`` so CI tests it; only the CUDA-only parts step aside there,
each with its reason, and the mode that ran is recorded beside the one asked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from workbench.backends.base import Backend
from workbench.backends.status import BackendStatus, gpu_present
from workbench.backends.torch_cuda.device import cuda_reason, describe, resolve_device
from workbench.backends.torch_cuda.predictor import NAME, TorchCudaPredictor
from workbench.errors import BadInput

__all__ = ["BACKEND", "NAME", "TorchCudaPredictor", "open_model", "open_torch_cuda"]


def open_model(model: Any, dtype: str = "fp16", *, device: str = "auto", mode: str = "auto",
               channels_last: bool = True, fold_bn: bool = True, threads: int = 0,
               mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
               recipe: dict[str, Any] | None = None) -> TorchCudaPredictor:
    """A predictor for an in-memory model (a copy is prepared; ``model`` is untouched)."""
    import copy

    from workbench.backends.torch_cuda.model import DTYPES, prepare

    if dtype not in DTYPES:
        raise BadInput(f"torch-cuda dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    dev = resolve_device(device)
    ready, folded = prepare(copy.deepcopy(model), dtype, dev, channels_last, fold_bn)
    return TorchCudaPredictor(ready, device=dev, dtype=dtype, mode=mode,
                              channels_last=channels_last, threads=threads, folded_bn=folded,
                              mean=mean, std=std, recipe=recipe)


def open_torch_cuda(path: Path, threads: int = 0, *, device: str = "auto", mode: str = "",
                    dtype: str = "", mean: tuple[float, ...] | None = None,
                    std: tuple[float, ...] | None = None) -> TorchCudaPredictor:
    """Open a built artifact; ``mode``/``dtype`` override the recipe's when given."""
    from workbench.backends.torch_cuda.model import load_model, read_recipe

    recipe = read_recipe(Path(path))
    model = load_model(Path(path), recipe)
    return open_model(model, dtype or recipe.dtype, device=device, mode=mode or recipe.mode,
                      channels_last=recipe.channels_last, fold_bn=recipe.fold_bn,
                      threads=threads, mean=mean, std=std, recipe=recipe.as_dict())


class TorchCudaBackend(Backend):
    name: ClassVar[str] = NAME
    dtypes: ClassVar[tuple[str, ...]] = ("fp32", "tf32", "fp16", "bf16")
    dtype_hints: ClassVar[dict[str, str]] = {
        "int8": "torch-cuda runs float dtypes; int8 on a GPU goes through TensorRT"}
    needs_model: ClassVar[bool] = True
    bf16_on_cpu_isa: ClassVar[bool] = False
    suffixes: ClassVar[tuple[str, ...]] = (".safetensors",)

    def status(self) -> BackendStatus:
        has_gpu, note = gpu_present()  # no device node: say so without importing torch
        why = cuda_reason() if has_gpu else note
        dev = "cuda" if not why else "cpu"
        reason = f"torch on {describe(dev)}" if not why else f"{why}: runs on the CPU"
        return BackendStatus(NAME, True, reason, self.dtypes, details={"device": dev})

    def open(self, path: Path, threads: int = 0, **options: Any) -> TorchCudaPredictor:
        return open_torch_cuda(path, threads, **options)

    def build_float(self, onnx_path: Path, dtype: str, out_dir: Path,
                    model: Any = None) -> tuple[Path, dict[str, Any]]:
        """The canonical model's weights and the recipe, one .safetensors file."""
        from workbench.backends.torch_cuda.model import save_artifact

        if model is None:
            raise BadInput("torch-cuda builds from the loaded model, not an ONNX file: build it "
                           "with --variant/--weights or from a profile")
        file = out_dir / "model.safetensors"
        recipe = save_artifact(model, dtype, file)
        return file, {"calibration": None, "format": "safetensors (torch state_dict + recipe)",
                      "torch_cuda": recipe.as_dict(), "weights_sha256": recipe.weights_sha256,
                      "optimized_at": "open time (BatchNorm folded, cast, channels_last)"}


BACKEND = TorchCudaBackend()
