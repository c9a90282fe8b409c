"""The same-run torch eager fp32 baseline: every other figure is also a ratio to it.

Weights do not change dense fp32 speed, so when only the variant is known (a bare ONNX
file, say) the baseline is the same architecture with random-init weights; that is said in
the label so nobody mistakes it for a measured checkpoint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.bench.grid import BenchTarget
from workbench.errors import BadInput
from workbench.runtime import TorchPredictor

if TYPE_CHECKING:  # pragma: no cover
    import torch

BASELINE_LABEL = "torch-eager-fp32"


def load_variant(variant: str, weights: str = "random-init", source: str = "timm") -> torch.nn.Module:
    """The canonical timm HRNet for ``variant``: through workbench.sources when it is there
    (it resolves short names and reads checkpoints), else timm directly with random init."""
    try:
        from workbench.sources import ModelSpec, load_model
    except ImportError:
        load_model = None  # type: ignore[assignment]
    if load_model is not None:
        return load_model(ModelSpec(source=source, variant=variant, weights=weights)).model
    if weights != "random-init":
        raise BadInput(f"baseline weights {weights!r}: loading checkpoints needs workbench.sources")
    import timm

    name = variant if variant.startswith("hrnet_") else f"hrnet_{variant}"
    try:
        return timm.create_model(name, pretrained=False).eval()
    except RuntimeError as exc:  # timm: "Unknown model"
        raise BadInput(f"unknown HRNet variant {variant!r} ({exc})") from None


def torch_target(model: torch.nn.Module, label: str = BASELINE_LABEL,
                 input_size: tuple[int, int] | None = None, count_macs: bool = True) -> BenchTarget:
    """A bench target running ``model`` in torch eager fp32 (``inference_mode``)."""
    gmacs = None
    if count_macs and input_size is not None:
        from workbench.bench.roofline import torch_gmacs

        gmacs = torch_gmacs(model, input_size)

    def factory(threads: int) -> Any:
        return TorchPredictor(model, threads)

    return BenchTarget(label, factory, "", gmacs)


def torch_baseline(variant: str, input_size: tuple[int, int], weights: str = "random-init",
                   source: str = "timm") -> BenchTarget:
    """The torch eager fp32 baseline for ``variant`` at ``input_size``."""
    model = load_variant(variant, weights, source)
    return torch_target(model, BASELINE_LABEL, input_size)
