"""mmclassification / mmpretrain checkpoints ↔ the canonical (official/timm) layout.

mmcls splits the classifier into ``backbone`` / ``neck.0`` (HRFuseScales) / ``head.fc``
and builds the neck's convs **without bias** (NOTES §1). Reading maps every key exactly
and sets the missing conv biases to zero. Writing is the exact inverse: a canonical
model's head-conv bias is folded into the following BN as
``running_mean ← running_mean − bias``, since BN(conv(x) + b) with mean μ equals
BN(conv(x)) with mean μ − b.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.sources.checkpoint import StateDict, save_state_dict

# (mmcls regex, canonical template); the first match wins.
_TO_CANONICAL: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(a), b)
    for a, b in (
        (r"^backbone\.(.+)$", r"\1"),
        (r"^neck\.0\.increase_layers\.(\d+)\.(.+)$", r"incre_modules.\1.\2"),
        (r"^neck\.0\.downsample_layers\.(\d+)\.conv\.(weight)$", r"downsamp_modules.\1.0.\2"),
        (r"^neck\.0\.downsample_layers\.(\d+)\.bn\.(.+)$", r"downsamp_modules.\1.1.\2"),
        (r"^neck\.0\.final_layer\.conv\.(weight)$", r"final_layer.0.\1"),
        (r"^neck\.0\.final_layer\.bn\.(.+)$", r"final_layer.1.\1"),
        (r"^head\.fc\.(.+)$", r"classifier.\1"),
    )
)

_TO_MMCLS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(a), b)
    for a, b in (
        (r"^incre_modules\.(\d+)\.(.+)$", r"neck.0.increase_layers.\1.\2"),
        (r"^downsamp_modules\.(\d+)\.0\.(weight)$", r"neck.0.downsample_layers.\1.conv.\2"),
        (r"^downsamp_modules\.(\d+)\.1\.(.+)$", r"neck.0.downsample_layers.\1.bn.\2"),
        (r"^final_layer\.0\.(weight)$", r"neck.0.final_layer.conv.\1"),
        (r"^final_layer\.1\.(.+)$", r"neck.0.final_layer.bn.\1"),
        (r"^classifier\.(.+)$", r"head.fc.\1"),
    )
)

# The head convs that carry a bias in the canonical model, keyed by their BN's prefix.
_HEAD_CONV_BN = re.compile(r"^(downsamp_modules\.\d+|final_layer)\.0\.bias$")


def head_conv_bias_keys(sd: StateDict) -> list[str]:
    """The canonical keys of head-conv biases that ``sd``'s head convs would carry."""
    out = []
    for k in sd:
        m = re.match(r"^(downsamp_modules\.\d+|final_layer)\.0\.weight$", k)
        if m:
            out.append(f"{m.group(1)}.0.bias")
    return sorted(out)


def mmcls_to_canonical(sd: StateDict, path: Path | str = "<state_dict>") -> StateDict:
    """Map an mmcls state dict onto canonical keys; add the neck's missing conv biases as zeros."""
    import torch

    out: StateDict = {}
    for key, value in sd.items():
        for pat, repl in _TO_CANONICAL:
            if pat.match(key):
                out[pat.sub(repl, key)] = value
                break
        else:
            if key.startswith("data_preprocessor."):
                continue  # mmpretrain keeps its mean/std buffers here; not model weights
            raise BadInput(f"{path}: unexpected key {key!r} in an mmcls checkpoint (expected backbone./neck.0./head.fc.)")
    for bias_key in head_conv_bias_keys(out):
        if bias_key not in out:
            weight = out[bias_key[: -len("bias")] + "weight"]
            out[bias_key] = torch.zeros(weight.shape[0], dtype=weight.dtype)
    return out


def canonical_to_mmcls(sd: StateDict) -> StateDict:
    """The exact inverse: fold each head-conv bias into its BN's running mean, rename keys."""
    folded: StateDict = dict(sd)  # only the folded running means become new tensors
    for bias_key in [k for k in folded if _HEAD_CONV_BN.match(k)]:
        prefix = bias_key[: -len(".0.bias")]
        bias = folded.pop(bias_key)
        mean_key = f"{prefix}.1.running_mean"
        folded[mean_key] = folded[mean_key] - bias.to(folded[mean_key].dtype)
    out: StateDict = {}
    for key, value in folded.items():
        for pat, repl in _TO_MMCLS:
            if pat.match(key):
                out[pat.sub(repl, key)] = value
                break
        else:
            out[f"backbone.{key}"] = value
    return out


def save_mmcls_checkpoint(model_or_sd: Any, path: str | Path, variant: str = "") -> Path:
    """Write a canonical model as an mmcls-layout ``{'meta', 'state_dict'}`` checkpoint."""
    sd = model_or_sd.state_dict() if hasattr(model_or_sd, "state_dict") else model_or_sd
    meta = {"written_by": "hrnet-wb", "layout": "mmcls", "variant": variant}
    return save_state_dict(canonical_to_mmcls(sd), path, wrapper="state_dict", meta=meta)
