"""The HRNet classification variants and the names people use for them.

One registry, keyed by timm's model name, because timm's ``HighResolutionNet`` is the
canonical model every source returns. The table holds names only; the stage
configurations themselves are read from timm (``timm.models.hrnet.cfg_cls``) when a
model is built, so nothing here can drift from the network that actually runs.

Importing this module is cheap (no torch, no timm): the CLI resolves names at start-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from workbench.errors import BadInput


@dataclass(frozen=True)
class Variant:
    """One HRNet classifier as timm names it, with the names the other sources use."""

    name: str  # timm model name, e.g. "hrnet_w18"
    short: str  # our short name, e.g. "w18", "small_v1"
    arch: str  # timm's cfg_cls key (the _ssld models reuse hrnet_w18 / hrnet_w48)
    head_conv_bias: bool  # False for timm's _ssld models (their head convs have no bias)
    official: str  # the official README's name ("" if the official repo has none)
    mmcls: bool  # mmcls/mmpretrain publish this width


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("hrnet_w18_small", "small_v1", "hrnet_w18_small", True, "HRNet-W18-C-Small-v1", False),
        Variant("hrnet_w18_small_v2", "small_v2", "hrnet_w18_small_v2", True, "HRNet-W18-C-Small-v2", False),
        Variant("hrnet_w18", "w18", "hrnet_w18", True, "HRNet-W18-C", True),
        Variant("hrnet_w30", "w30", "hrnet_w30", True, "HRNet-W30-C", True),
        Variant("hrnet_w32", "w32", "hrnet_w32", True, "HRNet-W32-C", True),
        Variant("hrnet_w40", "w40", "hrnet_w40", True, "HRNet-W40-C", True),
        Variant("hrnet_w44", "w44", "hrnet_w44", True, "HRNet-W44-C", True),
        Variant("hrnet_w48", "w48", "hrnet_w48", True, "HRNet-W48-C", True),
        Variant("hrnet_w64", "w64", "hrnet_w64", True, "HRNet-W64-C", True),
        Variant("hrnet_w18_ssld", "w18_ssld", "hrnet_w18", False, "", False),
        Variant("hrnet_w48_ssld", "w48_ssld", "hrnet_w48", False, "", False),
    )
}

# The nine distinct networks (the two _ssld names share an architecture with w18 / w48).
WIDTHS: tuple[str, ...] = (
    "hrnet_w18_small", "hrnet_w18_small_v2", "hrnet_w18", "hrnet_w30", "hrnet_w32",
    "hrnet_w40", "hrnet_w44", "hrnet_w48", "hrnet_w64",
)


def _norm(name: str) -> str:
    s = name.strip().lower().replace("-", "_")
    s = re.sub(r"^hrnet_?", "", s)
    s = re.sub(r"_c(?=_|$)", "", s)  # the official "-C" (classification) suffix
    return s


_ALIASES: dict[str, str] = {}
for _v in VARIANTS.values():
    for _a in (_v.name, _v.short, _v.official):
        if _a:
            _ALIASES[_norm(_a)] = _v.name
_ALIASES.update({
    "w18_small": "hrnet_w18_small", "w18_small_v1": "hrnet_w18_small", "small": "hrnet_w18_small",
    "w18_small_v2": "hrnet_w18_small_v2",
})


def resolve_variant(name: str) -> str:
    """Map any accepted spelling (``w18``, ``hrnet_w18``, ``HRNet-W18-C``, ``small_v1``)
    to timm's name; raise BadInput naming the known ones otherwise."""
    key = _norm(name or "")
    if key in _ALIASES:
        return _ALIASES[key]
    known = ", ".join(f"{v.name} ({v.short})" for v in VARIANTS.values())
    raise BadInput(f"unknown variant {name!r}; known: {known}")


def get_variant(name: str) -> Variant:
    return VARIANTS[resolve_variant(name)]


def arch_config(name: str) -> dict[str, Any]:
    """timm's stage configuration for a variant (imports timm: call only when building)."""
    from timm.models.hrnet import cfg_cls

    return cfg_cls[get_variant(name).arch]
