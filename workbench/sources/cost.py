"""Params and compute of each variant, counted the way each source counts them (NOTES §3).

Each source publishes a different number for the same network because each uses a
different counter. Rather than type their tables in, this module re-counts every cell
from the model itself under each convention:

- ``official`` (the HRNet-Image-Classification README): conv + linear multiply-adds
  / 2**30 (what ``torch.utils.flop_counter`` reports / 2; the tests hold the two equal);
  params of the full model.
- ``mmcls`` (metafile, mmcv's counter): conv MACs (+ bias adds), BN (×2 when affine),
  ReLU, upsample and pooling elements, over backbone + neck + pooling with no fc, / 1e9;
  params of mmcls's own model, whose neck convs have no bias.
- ``timm`` (benchmark CSV, fvcore): conv and linear MACs, BN (×2 when affine), upsample
  and pooling elements, ReLU and adds ignored, / 1e9.

One forward pass on the meta device (shapes only: no memory, no arithmetic) counts all
three conventions at once with module hooks, and results are cached per torch/timm
version, so ``hrnet-wb models`` stays fast even for w64.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.atomic import write_json
from workbench.sources.variants import VARIANTS, WIDTHS, get_variant

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

CACHE_VERSION = 1
DEFAULT_SIZE = (224, 224)


@dataclass(frozen=True)
class Convention:
    """How one source counts, and how it prints its table."""

    source: str
    cost_name: str  # the column header the source uses
    unit_divisor: float
    params_digits: int  # decimals of the params column (millions)
    cost_format: str  # "sig3" (3 significant figures) or "2f"
    variants: tuple[str, ...]
    description: str


CONVENTIONS: dict[str, Convention] = {
    c.source: c
    for c in (
        Convention("official", "GFLOPs", float(2**30), 1, "sig3", WIDTHS,
                   "conv+linear multiply-adds / 2^30 (torch.utils.flop_counter FLOPs / 2)"),
        Convention("mmcls", "Flops (G)", 1e9, 2, "2f", tuple(n for n in WIDTHS if VARIANTS[n].mmcls),
                   "mmcv counter: conv MACs + bias, BN, ReLU, upsample, pool; no fc; / 1e9; "
                   "params without the neck conv biases"),
        Convention("timm", "GMACs", 1e9, 2, "2f", tuple(VARIANTS),
                   "fvcore: conv+linear MACs + BN, upsample, pool elements; / 1e9"),
    )
}

# What the seed's timm table printed as "flops" and why it is not shown as a figure.
SEED_TIMM_FLOPS_NOTE = (
    "the seed table's timm 'flops' column (9.667 for hrnet_w18) matches no counter: not "
    "fvcore GMACs (4.32), not 2×MACs (8.57), not the mmcv or official conventions; its "
    "closest neighbour is an activation count, so it is not reproducible and not shown"
)


@dataclass(frozen=True)
class CostRow:
    """One cell pair of a source's table, with the raw counts behind it."""

    source: str
    variant: str
    params: int
    count: int  # raw count under the source's convention (MACs or mmcv "flops")
    params_m: str  # as the source prints it, e.g. "21.3" / "21.30"
    cost: str  # as the source prints it, e.g. "3.99" / "4.33"
    input_size: tuple[int, int] = DEFAULT_SIZE

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        return d


def _sig3(x: float) -> str:
    """Three significant figures without an exponent: 3.99, 11.8, 26.9, 128."""
    if x == 0:
        return "0"
    from math import floor, log10

    decimals = max(0, 2 - int(floor(log10(abs(x)))))
    return f"{x:.{decimals}f}"


def format_cost(source: str, count: int) -> str:
    conv = CONVENTIONS[source]
    value = count / conv.unit_divisor
    return _sig3(value) if conv.cost_format == "sig3" else f"{value:.2f}"


def format_params(source: str, params: int) -> str:
    return f"{params / 1e6:.{CONVENTIONS[source].params_digits}f}"


# -- the counters -----------------------------------------------------------------------


@dataclass(frozen=True)
class CountingRules:
    """Which module calls a convention counts, and over which part of the model."""

    conv_bias: bool  # add one op per output element for a conv that has a bias
    bn: bool  # input elements, ×2 when affine
    relu: bool  # output elements
    upsample: bool  # output elements
    pool: bool  # input elements
    linear: bool  # in_features × out_features per row
    no_head_conv_bias: bool = False  # the source's model lacks the head convs' biases (mmcls)


RULES: dict[str, CountingRules] = {
    "official": CountingRules(conv_bias=False, bn=False, relu=False, upsample=False, pool=False, linear=True),
    "timm": CountingRules(conv_bias=False, bn=True, relu=False, upsample=True, pool=True, linear=True),
    # the classifier is never run by mmcls's get_flops (it runs extract_feat), so linear=False
    "mmcls": CountingRules(conv_bias=True, bn=True, relu=True, upsample=True, pool=True, linear=False,
                           no_head_conv_bias=True),
}


def _meta_model(variant: str) -> nn.Module:
    from workbench.sources.timm_source import build_model

    return build_model(variant, device="meta")


def head_convs(model: Any) -> list[Any]:
    """The classification head's downsampling and final convs: mmcls builds them without bias."""
    seqs = [*(model.downsamp_modules or []), model.final_layer]
    return [seq[0] for seq in seqs if seq is not None]


def count_params(model: Any, no_head_conv_bias: bool = False) -> int:
    total = int(sum(p.numel() for p in model.parameters()))
    if no_head_conv_bias:
        total -= sum(c.bias.numel() for c in head_convs(model) if c.bias is not None)
    return int(total)


def _same_shape(x: Any) -> Any:
    return x


def count_conventions(model: Any, size: tuple[int, int] = DEFAULT_SIZE,
                      sources: tuple[str, ...] = tuple(RULES)) -> dict[str, tuple[int, int]]:
    """(params, count) under each source's convention, from one forward pass with hooks.

    The pass runs ``forward_features`` → ``global_pool`` → ``classifier`` on a meta input,
    so only shapes are computed. Each module call counts once, per convention's rules.
    """
    import torch
    import torch.nn as nn

    rules = {s: RULES[s] for s in sources}
    totals = dict.fromkeys(rules, 0)
    no_bias = {id(c) for c in head_convs(model)}

    def conv(m: nn.Conv2d, inp: Any, out: Any) -> None:
        positions = out.shape[0] * out.shape[2] * out.shape[3]
        macs = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups) * m.out_channels * positions
        for s, r in rules.items():
            has_bias = m.bias is not None and not (r.no_head_conv_bias and id(m) in no_bias)
            totals[s] += macs + (m.out_channels * positions if r.conv_bias and has_bias else 0)

    def counting(kind: str, elems: Any) -> Any:
        def hook(m: nn.Module, inp: Any, out: Any) -> None:
            n = elems(m, inp, out)
            for s, r in rules.items():
                if getattr(r, kind):
                    totals[s] += n
        return hook

    kinds: list[tuple[Any, Any]] = [
        (nn.Conv2d, conv),
        (nn.BatchNorm2d, counting("bn", lambda m, i, o: i[0].numel() * (2 if m.affine else 1))),
        (nn.ReLU, counting("relu", lambda m, i, o: o.numel())),
        (nn.Upsample, counting("upsample", lambda m, i, o: o.numel())),
        ((nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.MaxPool2d, nn.AdaptiveMaxPool2d),
         counting("pool", lambda m, i, o: i[0].numel())),
    ]
    handles = [mod.register_forward_hook(fn) for mod in model.modules()
               for cls, fn in kinds if isinstance(mod, cls)]
    # BN and ReLU keep shapes: their meta kernels (Python decompositions) are skipped
    # (docs/NOTES.md §7). Hooks still fire. Only ever done to a throwaway meta model.
    shape_kept = [m for m in model.modules() if isinstance(m, (nn.BatchNorm2d, nn.ReLU))]
    for m in shape_kept:
        m.forward = _same_shape  # type: ignore[method-assign,assignment]
    try:
        with torch.no_grad():
            pooled = model.global_pool(model.forward_features(torch.empty(1, 3, *size, device="meta")))
    finally:
        for h in handles:
            h.remove()
        for m in shape_kept:
            del m.forward
    fc = model.classifier
    if isinstance(fc, nn.Linear):  # counted from shapes: one row per image
        for s, r in rules.items():
            if r.linear:
                totals[s] += pooled.shape[0] * fc.in_features * fc.out_features
    return {s: (count_params(model, r.no_head_conv_bias), totals[s]) for s, r in rules.items()}


def count_variant(variant: str, size: tuple[int, int] = DEFAULT_SIZE) -> dict[str, tuple[int, int]]:
    """Every convention's (params, count) for one variant, from a single meta-device build.

    Memoised per process (the on-disk cache is :func:`cost_table`'s), since the bench
    stage and the TUI ask for the same few variants repeatedly.
    """
    return dict(_count_variant(get_variant(variant).name, (int(size[0]), int(size[1]))))


@functools.lru_cache(maxsize=64)
def _count_variant(name: str, size: tuple[int, int]) -> tuple[tuple[str, tuple[int, int]], ...]:
    return tuple(count_conventions(_meta_model(name), size).items())


def torch_flop_counter_macs(model: nn.Module, size: tuple[int, int] = DEFAULT_SIZE) -> int:
    """conv+linear MACs as ``torch.utils.flop_counter`` counts them (FLOPs / 2).

    An independent check of the official convention: NOTES §3 found it reproduces every
    cell of the official README, and the hook counter must agree with it exactly.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(torch.empty(1, 3, *size, device="meta"))
    return int(fc.get_total_flops()) // 2


# -- the tables, cached -------------------------------------------------------------------


@functools.cache
def _versions() -> str:
    """torch's and timm's versions from their metadata, not ``import torch`` (a cache hit
    stays fast); read once (each lookup scans sys.path: ~5 ms, per key in the TUI's table)."""
    from importlib.metadata import version

    return f"torch {version('torch')}|timm {version('timm')}"


def _cache_key(source: str, variant: str, size: tuple[int, int]) -> str:
    return f"v{CACHE_VERSION}|{_versions()}|{source}|{variant}|{size[0]}x{size[1]}"


def read_cost_cache(path: Path | None) -> dict[str, list[int]]:
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def cost_row(source: str, variant: str, size: tuple[int, int] = DEFAULT_SIZE,
             cache: dict[str, list[int]] | None = None) -> CostRow:
    """One variant under one source's convention (``cache`` is read and filled in place)."""
    name = get_variant(variant).name
    cache = cache if cache is not None else {}
    key = _cache_key(source, name, size)
    hit = cache.get(key)
    if not (isinstance(hit, list) and len(hit) == 2):
        # one build counts every convention; fill them all so the next table is a hit
        for src, (params, count) in count_variant(name, size).items():
            cache[_cache_key(src, name, size)] = [params, count]
        hit = cache[key]
    params, count = int(hit[0]), int(hit[1])
    return CostRow(source, name, params, count, format_params(source, params), format_cost(source, count), size)


def cached_costs(source: str, cache_file: Path | None, size: tuple[int, int] = DEFAULT_SIZE,
                 variants: tuple[str, ...] | None = None) -> dict[str, CostRow]:
    """The rows already in ``cache_file``, without counting (and without importing torch):
    what a UI can show at once while it counts the rest."""
    cache = read_cost_cache(cache_file)
    out: dict[str, CostRow] = {}
    for name in variants or CONVENTIONS[source].variants:
        hit = cache.get(_cache_key(source, name, size))
        if isinstance(hit, list) and len(hit) == 2:
            out[name] = cost_row(source, name, size, cache)
    return out


def cost_table(source: str, cache_file: Path | None = None, size: tuple[int, int] = DEFAULT_SIZE,
               variants: tuple[str, ...] | None = None, reporter: Any = None) -> list[CostRow]:
    """Every variant a source publishes, counted under its convention.

    With ``cache_file`` (e.g. ``<home>/cache/cost.json``), counts are read from and
    written to it, keyed by torch and timm versions.
    """
    conv = CONVENTIONS[source]
    cache = read_cost_cache(cache_file)
    before = len(cache)
    rows = []
    names = variants or conv.variants
    for i, name in enumerate(names):
        if reporter is not None:
            reporter.check_cancelled()
        rows.append(cost_row(source, name, size, cache))
        if reporter is not None:
            reporter.progress(i + 1, len(names), "variants")
    if cache_file is not None and len(cache) != before:
        write_json(cache_file, cache)
    return rows
