"""The same-run torch eager fp32 baseline: every other figure is also a ratio to it.

Weights do not change dense fp32 speed, so when only the variant is known (a bare ONNX
file, say) the baseline is the same architecture with seeded random-init weights.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench.backends import BASELINE_BACKEND
from workbench.backends.torch import TorchPredictor
from workbench.bench.grid import BenchTarget

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from workbench.sources import LoadedModel
    from workbench.store import RunWrites

BASELINE_LABEL = "torch-eager-fp32"


def load_baseline(variant: str, weights: str = "random-init", source: str = "timm") -> LoadedModel:
    """The canonical timm HRNet for ``variant`` through workbench.sources (seeded random-init
    by default; it resolves short names such as ``w18`` and raises BadInput on unknown ones)."""
    from workbench.sources import ModelSpec, load_model

    return load_model(ModelSpec(source=source, variant=variant, weights=weights))


def load_variant(variant: str, weights: str = "random-init", source: str = "timm") -> torch.nn.Module:
    model = load_baseline(variant, weights, source).model
    assert model is not None
    return model


def register_baseline(store: RunWrites, loaded: LoadedModel, input_size: tuple[int, int]) -> str:
    """Record torch eager as a 'baseline' artifact, keyed like the pipeline does, so the
    leaderboard joins its figures with source, variant, weights, backend and dtype."""
    key = f"torch-eager:{loaded.weights_id}"
    h, w = input_size
    store.add_artifact(key, BASELINE_LABEL, "baseline", "", source=loaded.source,
                       variant=loaded.variant, weights=loaded.weights, backend=BASELINE_BACKEND,
                       dtype="fp32", input_size=f"{h}x{w}")
    return key


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
