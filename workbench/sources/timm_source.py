"""timm: the canonical model class, its pretrained tags and the local HF hub cache.

Every source returns ``timm.models.hrnet.HighResolutionNet``; this module builds it.
Hub weights are only ever read from the local Hugging Face cache: nothing here opens a
network connection, so a missing file is a clear error instead of a download.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import BadInput
from workbench.sources.variants import get_variant

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

RANDOM_SEED = 0
HUB_FILES = ("model.safetensors", "pytorch_model.bin")


def _skip_meta_init_mode() -> Any:
    """A TorchFunctionMode that turns in-place init calls on meta tensors into no-ops.

    On the meta device an init such as ``kaiming_normal_`` computes nothing yet runs
    through Python reference kernels; skipping it halves the time to build w48's
    skeleton, which every checkpoint load and every cost count starts from.
    """
    import torch
    from torch.overrides import TorchFunctionMode

    skip = {torch.Tensor.normal_, torch.Tensor.uniform_, torch.Tensor.fill_, torch.Tensor.zero_}

    class SkipMetaInit(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            if func in skip and args and isinstance(args[0], torch.Tensor) and args[0].is_meta:
                return args[0]
            return func(*args, **(kwargs or {}))

    return SkipMetaInit()


def build_model(variant: str, *, cfg: dict[str, Any] | None = None, num_classes: int = 1000,
                head_conv_bias: bool | None = None, device: str = "meta",
                seed: int | None = None) -> nn.Module:
    """Build the canonical network.

    ``device="meta"`` allocates nothing (use it before loading a state dict with
    ``assign=True``; docs/NOTES.md §7). ``seed`` gives timm's own
    init under a fixed torch seed, so random-init weights are the same on every run.
    ``cfg`` builds a custom stage configuration (an official yaml that matches no variant).
    """
    import torch

    kwargs: dict[str, Any] = {"num_classes": num_classes}
    if head_conv_bias is not None:
        kwargs["head_conv_bias"] = head_conv_bias
    skip = _skip_meta_init_mode() if device == "meta" else contextlib.nullcontext()
    model: Any
    with torch.random.fork_rng(devices=[]), skip:
        if seed is not None:
            torch.manual_seed(seed)
        if cfg is not None:
            from timm.models.hrnet import HighResolutionNet

            model = HighResolutionNet(cfg, device=device, **kwargs)
        else:
            import timm

            model = timm.create_model(get_variant(variant).name, pretrained=False, device=device, **kwargs)
    return model.eval()


def default_tag(variant: str) -> str:
    """timm's default pretrained tag for a variant (e.g. ``ms_aug_in1k`` for hrnet_w18)."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(get_variant(variant).name)
    return str(cfg.tag or "") if cfg is not None else ""


def pretrained_tags(variant: str) -> list[str]:
    """Every pretrained tag timm knows for a variant, default first."""
    import timm

    name = get_variant(variant).name
    tags = [n.split(".", 1)[1] for n in timm.list_pretrained(f"{name}.*")]
    first = default_tag(name)
    return sorted(tags, key=lambda t: (t != first, t))


def pretrained_cfg(variant: str, tag: str) -> Any:
    """timm's ``PretrainedCfg`` for ``variant.tag``; BadInput naming the valid tags."""
    from timm.models import get_pretrained_cfg

    name = get_variant(variant).name
    try:
        cfg = get_pretrained_cfg(f"{name}.{tag}" if tag else name)
    except RuntimeError:
        cfg = None
    if cfg is None:
        raise BadInput(f"hub:{tag}: no such pretrained tag for {name}; timm has: "
                       + ", ".join(pretrained_tags(name)))
    return cfg


def hf_cache_dir() -> Path:
    """The HF hub cache, resolved at call time the way huggingface_hub does."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "huggingface" / "hub"


def find_in_hf_cache(repo_id: str) -> Path | None:
    """The cached weights file of ``repo_id`` if already on disk; never downloads."""
    from huggingface_hub import try_to_load_from_cache

    cache = hf_cache_dir()
    for filename in HUB_FILES:
        hit = try_to_load_from_cache(repo_id, filename, cache_dir=str(cache))
        if isinstance(hit, str) and Path(hit).is_file():
            return Path(hit)
    return None


def resolve_hub_weights(variant: str, weights: str) -> tuple[Path, str, str]:
    """``hub`` / ``hub:<tag>`` → (cached file, ``hf-hub:<repo>``, tag); BadInput if not cached."""
    tag = weights.split(":", 1)[1] if ":" in weights else ""
    cfg = pretrained_cfg(variant, tag)
    repo = cfg.hf_hub_id
    if not repo:
        raise BadInput(f"{weights}: {variant}.{cfg.tag} has no Hugging Face hub id in timm")
    path = find_in_hf_cache(repo)
    if path is None:
        raise BadInput(
            f"{weights}: {repo} is not in the local HF cache ({hf_cache_dir()}); hrnet-wb never "
            f"downloads: fetch it elsewhere (huggingface-cli download {repo}) or give a file path"
        )
    return path, f"hf-hub:{repo}", str(cfg.tag)


CALIB_SIZE = 224  # BN statistics estimated at 64x64 are border-dominated and blow up at 224
CALIB_BATCH = 2


def calibrate_bn(model: nn.Module, seed: int = RANDOM_SEED, size: int = CALIB_SIZE,
                 batch: int = CALIB_BATCH) -> nn.Module:
    """Estimate every BN's running statistics from seeded N(0, 1) images; nothing else changes.

    timm's init leaves BN at identity (mean 0, var 1), and HRNet's residual sums then grow
    stage after stage until a float32 parity check or an int8 calibration means nothing
    (docs/NOTES.md §7); statistics taken from data, as a trained network has them, keep the
    logits O(1). The pass runs on one thread so the statistics, hence the weights, are
    reproducible.
    """
    import torch
    import torch.nn as nn

    gen = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with torch.no_grad():
            for bn in bns:
                bn.reset_running_stats()
                bn.momentum = None  # cumulative average: exactly this batch's statistics
            model.train()
            model(torch.randn(batch, 3, size, size, generator=gen))
    finally:
        torch.set_num_threads(threads)
        for bn in bns:
            bn.momentum = 0.1
        model.eval()
    return model


def randomize_weights(model: nn.Module, seed: int = 0, calib_size: int = CALIB_SIZE,
                      calib_batch_size: int = CALIB_BATCH) -> nn.Module:
    """Give every BN affine, BN statistic and head-conv bias a random, non-trivial value.

    timm's init leaves BN at identity (mean 0, var 1, γ 1, β 0) and biases at zero, so a
    layout conversion that dropped or misplaced any of them would go unnoticed. This
    draws γ, β and the biases at random, then re-estimates the running statistics with
    :func:`calibrate_bn`, which keeps activations bounded at any depth. Used by the
    round-trip tests and the parity benchmark.
    """
    import torch
    import torch.nn as nn

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.copy_(0.5 + torch.rand(mod.weight.shape, generator=gen))
                mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=gen))
            elif isinstance(mod, nn.Conv2d) and mod.bias is not None:
                mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=gen))
    return calibrate_bn(model, seed=seed, size=calib_size, batch=calib_batch_size)


def randomized_model(variant: str, seed: int = 0, calib_size: int = CALIB_SIZE) -> nn.Module:
    """A canonical model whose every tensor is random and informative, built fast.

    Allocates on the meta device, materialises uninitialised CPU memory, fills each conv
    and linear weight with a seeded He-normal draw, then :func:`randomize_weights` sets
    BN affines, head biases and running statistics (faster than timm's own init: docs/NOTES.md
    §7). Not what ``load_model`` calls random-init: that one is timm's init with
    calibrated BN statistics only.
    """
    import torch
    import torch.nn as nn

    model: Any = build_model(variant, device="meta").to_empty(device="cpu")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                fan_in = mod.weight[0].numel()
                mod.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=gen)
                if mod.bias is not None:
                    mod.bias.zero_()
            elif isinstance(mod, nn.BatchNorm2d) and mod.num_batches_tracked is not None:
                mod.num_batches_tracked.zero_()
        model.classifier.weight.mul_(0.5 ** 0.5)  # a linear output, not a ReLU input
    return randomize_weights(model, seed=seed, calib_size=calib_size)
