"""Model sources: timm, the official repo and mmcls, all returning one canonical network.

The canonical model is timm's ``HighResolutionNet`` with the official/timm key names
(NOTES §1). A source decides where weights come from and which preprocessing preset
goes with them; the file itself is read by :mod:`workbench.sources.checkpoint`, whose
layout detection means any of the three layouts loads through any source.

    spec = ModelSpec(source="timm", variant="hrnet_w18_small", weights="random-init")
    lm = load_model(spec, reporter)

Importing this package is cheap; torch and timm are imported inside :func:`load_model`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import BadInput
from workbench.events import Reporter
from workbench.sources.variants import VARIANTS, WIDTHS, Variant, get_variant, resolve_variant

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

    from workbench.sources.checkpoint import StateDict

__all__ = [
    "SOURCES", "VARIANTS", "WIDTHS", "LoadedModel", "ModelSpec", "SourceInfo", "Variant",
    "get_variant", "load_model", "load_state_dict_into", "resolve_variant", "variant_of_state_dict",
]

RANDOM_INIT = "random-init"


@dataclass(frozen=True)
class SourceInfo:
    """What a source is: where its weights come from and which preprocessing matches them."""

    name: str
    description: str
    hub: bool  # weights = "hub" / "hub:<tag>" are meaningful (timm only)
    preprocess: str  # preset name; "timm" gets ":<pretrained tag>" appended

    def preset(self, tag: str) -> str:
        return f"{self.preprocess}:{tag}" if self.preprocess == "timm" and tag else self.preprocess


SOURCES: dict[str, SourceInfo] = {
    s.name: s
    for s in (
        SourceInfo("timm", "timm model names, pretrained tags, HF cache or a local file", True, "timm"),
        SourceInfo("official", "HRNet/HRNet-Image-Classification checkpoints and experiment yamls", False, "official"),
        SourceInfo("mmcls", "mmclassification / mmpretrain checkpoints (backbone./neck.0./head.fc.)", False, "mmcls"),
    )
}


@dataclass(frozen=True)
class ModelSpec:
    """What the user asked for (the profile's ``[model]`` section, minus input size)."""

    source: str = "timm"
    variant: str = "hrnet_w18"  # any spelling resolve_variant accepts; "auto" = from config/checkpoint
    weights: str = RANDOM_INIT  # "random-init" | "pretrained[:<tag>]" | "hub[:<tag>]" | a file path
    config: str = ""  # an official experiment yaml (optional)
    ema: bool = False  # load the EMA weights a training checkpoint carries


@dataclass
class LoadedModel:
    """The canonical model in eval mode, plus where it came from."""

    model: nn.Module | None  # None for a given .onnx (nothing loaded; stage_model)
    source: str
    variant: str  # timm name, or "custom-<yaml stem>" for a yaml that matches no variant
    weights: str  # "random-init" | absolute path | "hf-hub:<repo>"
    weights_id: str  # sha256 of the loaded state dict, or "random-init:<variant>:seed0"
    pretrained_tag: str  # timm tag whose preprocessing applies ("" for official / mmcls)
    preprocess: str  # preset name: "timm:<tag>", "official", "mmcls"
    layout: str = ""  # "canonical" | "mmcls" | "random-init"
    num_classes: int = 1000
    notes: list[str] = field(default_factory=list)
    catalogue_key: str = ""  # "source:variant.tag" when the weights are a catalogue entry

    @property
    def is_random(self) -> bool:
        return self.weights == RANDOM_INIT


# -- fitting a state dict to a model --------------------------------------------------


def _head_bias_key(key: str) -> bool:
    return key.endswith(".0.bias") and (key.startswith("downsamp_modules.") or key.startswith("final_layer."))


def _fit_problems(sd: StateDict, expected: dict[str, tuple[int, ...]]) -> tuple[list[str], list[str], list[str]]:
    missing = [k for k in expected if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in expected]
    shapes = [f"{k}: file {tuple(sd[k].shape)} vs model {expected[k]}"
              for k in sd if k in expected and tuple(sd[k].shape) != expected[k]]
    return missing, unexpected, shapes


def _expected_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def variant_of_state_dict(sd: StateDict) -> tuple[str | None, str]:
    """Name the variant a canonical state dict is, from key names and shapes (NOTES §1).

    Returns (variant or None, the evidence as a short phrase).
    """
    w = sd.get("layer1.0.conv1.weight")
    if w is None:
        return None, "no layer1.0.conv1.weight"
    if int(w.shape[0]) == 32:
        return "hrnet_w18_small", "layer1 has 32 channels"
    n_layer1 = len({k.split(".")[1] for k in sd if k.startswith("layer1.")})
    t = sd.get("transition1.0.0.weight")
    if t is None:
        return None, "no transition1.0.0.weight"
    width = int(t.shape[0])
    if n_layer1 == 2 and width == 18:
        return "hrnet_w18_small_v2", "two layer1 blocks, width 18"
    name = f"hrnet_w{width}"
    if name in VARIANTS and n_layer1 == 4:
        return name, f"transition1.0.0.weight has {width} channels"
    return None, f"{n_layer1} layer1 blocks, width {width}"


def _describe_misfit(missing: list[str], unexpected: list[str], shapes: list[str]) -> str:
    parts = []
    if shapes:
        parts.append(f"{len(shapes)} shape mismatches (e.g. {shapes[0]})")
    if missing:
        parts.append(f"{len(missing)} missing keys (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
    return "; ".join(parts)


def load_state_dict_into(model: nn.Module, sd: StateDict, variant: str, path: Path | str,
                         config: str = "") -> nn.Module:
    """Strictly load a canonical state dict into ``model`` (which may live on the meta device).

    Tolerated, because the function is unchanged: missing ``num_batches_tracked``; head
    conv biases missing (mmcls, timm ``_ssld``) → zeros; extra head conv biases that are all
    zero when the model has none. Anything else is a one-line BadInput; when the file is
    a different known variant, the line names it.
    """
    import torch

    expected = _expected_shapes(model)
    sd = {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
    for k in [k for k in sd if _head_bias_key(k) and k not in expected]:
        if bool(torch.count_nonzero(sd[k])):
            raise BadInput(
                f"{path}: the head convs carry non-zero biases ({k}) but {variant} has none; "
                f"use {variant.removesuffix('_ssld')}"
            )
        del sd[k]
    for k, shape in expected.items():
        if k not in sd and (_head_bias_key(k) or k.endswith("num_batches_tracked")):
            sd[k] = torch.zeros(shape, dtype=torch.long if k.endswith("num_batches_tracked") else torch.float32)
    missing, unexpected, shapes = _fit_problems(sd, expected)
    if missing or unexpected or shapes:
        actual, why = variant_of_state_dict(sd)
        same_arch = actual is not None and variant in VARIANTS and get_variant(actual).arch == get_variant(variant).arch
        if actual is not None and not same_arch:
            raise BadInput(f"{path}: this checkpoint is {actual} ({why}), not {variant}; "
                           + _variant_fix(actual, config))
        raise BadInput(f"{path}: does not fit {variant}: " + _describe_misfit(missing, unexpected, shapes))
    model.load_state_dict(sd, strict=True, assign=True)
    return model.eval()


def _variant_fix(actual: str, config: str) -> str:
    """The one change that makes the weights load (following it must not raise anew)."""
    if not config:
        return f"set variant = \"{actual}\" (or \"auto\")"
    stem = {"hrnet_w18_small": "hrnet_w18_small_v1"}.get(actual, actual)
    yaml = f" (experiments/cls_{stem}_sgd_lr5e-2_wd1e-4_bs32_x100.yaml)" if stem in _OFFICIAL_YAMLS else ""
    return (f"config {config} describes another network: give the {actual} yaml{yaml} as config, "
            f"or drop config and set variant = \"{actual}\" (or \"auto\")")


# The experiment yamls the official repo ships (it has none for w64).
_OFFICIAL_YAMLS = frozenset({"hrnet_w18_small_v1", "hrnet_w18_small_v2", "hrnet_w18", "hrnet_w30",
                             "hrnet_w32", "hrnet_w40", "hrnet_w44", "hrnet_w48"})


# -- the one entry point ----------------------------------------------------------------


def _source(name: str) -> SourceInfo:
    if name not in SOURCES:
        raise BadInput(f"unknown source {name!r}; known: {', '.join(SOURCES)}")
    return SOURCES[name]


def load_model(spec: ModelSpec, reporter: Reporter | None = None) -> LoadedModel:
    """Build the canonical model for ``spec``: random-init, HF-cache hub weights or a file.

    Logs which file was read, which layout and which variant were detected, and warns
    loudly on random-init weights.
    """
    from workbench.sources import checkpoint as ck
    from workbench.sources import timm_source as ts

    rep = reporter or Reporter()
    src = _source(spec.source)
    weights = (spec.weights or RANDOM_INIT).strip()

    # 1. the variant: explicit, from the yaml, or later from the checkpoint
    requested = None if spec.variant.strip().lower() in ("", "auto") else resolve_variant(spec.variant)
    cfg: dict[str, Any] | None = None
    if spec.config:
        from workbench.sources.official import read_experiment_yaml, variant_for_config

        cfg = read_experiment_yaml(spec.config)
        from_yaml = variant_for_config(cfg)
        rep.log(f"config {spec.config}: " + (f"describes {from_yaml}" if from_yaml else "a custom stage configuration"))
        if from_yaml is not None:
            if requested is not None and get_variant(requested).arch != from_yaml:
                raise BadInput(f"{spec.config}: describes {from_yaml}, but variant is {requested}; "
                               "drop one or make them agree")
            requested = requested or from_yaml
            cfg = None  # a known variant: build it by name
        elif requested is not None:
            raise BadInput(f"{spec.config}: a custom stage configuration, but variant is {requested}; "
                           "set variant = \"auto\" to build the yaml's network")
    custom_name = f"custom-{Path(spec.config).stem}" if cfg is not None else ""

    # 2. the weights
    if weights == RANDOM_INIT:
        if requested is None and cfg is None:
            raise BadInput("variant = \"auto\" needs a checkpoint or an official config yaml to read it from")
        variant = requested or custom_name
        model = ts.build_model(variant, cfg=cfg, device="cpu", seed=ts.RANDOM_SEED)
        ts.calibrate_bn(model, seed=ts.RANDOM_SEED)
        tag = ts.default_tag(variant) if src.name == "timm" and cfg is None else ""
        rep.log(f"RANDOM-INIT weights for {variant} (timm init, torch seed {ts.RANDOM_SEED}, BN "
                f"statistics from {ts.CALIB_BATCH} seeded noise images at {ts.CALIB_SIZE}x{ts.CALIB_SIZE}): "
                "accuracy figures will be meaningless; model.weights = \"pretrained\" (or a checkpoint) "
                "gives real ones", "warning")
        return LoadedModel(model, src.name, variant, RANDOM_INIT, f"{RANDOM_INIT}:{variant}:seed{ts.RANDOM_SEED}",
                           tag, src.preset(tag), layout=RANDOM_INIT)

    tag = ""
    catalogue_key = ""
    from workbench.sources.weights_catalogue import parse_pretrained

    pretrained_tag = parse_pretrained(weights)
    if pretrained_tag is not None:
        from workbench.sources.weights_catalogue import find_weights
        from workbench.sources.weights_download import fetch_weights

        if requested is None:
            raise BadInput(f"weights = {weights!r} needs an explicit variant (e.g. hrnet_w18)")
        entry = find_weights(src.name, requested, pretrained_tag)
        got = fetch_weights(entry, rep)
        path, label, catalogue_key = got.path, got.url, entry.key
        tag = entry.tag if src.name == "timm" else ""
        rep.log(f"pretrained {entry.key}: {path}" + (" (cached)" if got.cached else " (downloaded)"))
    elif weights == "hub" or weights.startswith("hub:"):
        if not src.hub:
            raise BadInput(f"weights = {weights!r}: hub weights come from timm; use source = \"timm\" "
                           "or give a checkpoint path")
        if requested is None:
            raise BadInput(f"weights = {weights!r} needs an explicit variant (e.g. hrnet_w18)")
        path, label, tag = ts.resolve_hub_weights(requested, weights)
        catalogue_key = f"timm:{get_variant(requested).name}.{tag}"
        rep.log(f"{label}: found in the local HF cache at {path}")
    else:
        path = Path(weights).expanduser()
        label = ""

    raw = ck.read_checkpoint(path, ema=spec.ema)
    label = label or str(raw.path)
    rep.log(f"read {raw.path}: {raw.describe()}")
    if raw.ema == "available":
        rep.log(f"{raw.path.name} also holds EMA weights; the regular ones are loaded (--ema / "
                "model.ema = true loads the EMA ones)", "warning")
    if raw.layout != ck.MMCLS and src.name == "mmcls" or raw.layout == ck.MMCLS and src.name != "mmcls":
        rep.log(f"source is {src.name} but the file is in the {raw.layout} layout; converting", "warning")
    sd = raw.state_dict
    if raw.layout == ck.MMCLS:
        from workbench.sources.mmcls import mmcls_to_canonical

        sd = mmcls_to_canonical(sd, raw.path)
        rep.log("mapped mmcls keys to the canonical layout (neck conv biases set to 0)")

    detected, why = variant_of_state_dict(sd)
    if cfg is not None:
        variant = custom_name
    elif requested is not None:
        variant = requested
    elif detected is not None:
        variant = detected
    else:
        raise BadInput(f"{raw.path}: matches no known HRNet variant ({why}); give its official "
                       "experiment yaml as config")
    if detected is not None:
        rep.log(f"checkpoint looks like {detected} ({why})")
    num_classes = int(sd["classifier.weight"].shape[0]) if "classifier.weight" in sd else 1000
    if num_classes != 1000:
        rep.log(f"classifier has {num_classes} classes", "warning")
    model = ts.build_model(variant, cfg=cfg, num_classes=num_classes, device="meta")
    model = load_state_dict_into(model, sd, variant, raw.path, spec.config)
    weights_id = ck.state_dict_sha256(model.state_dict())
    if src.name == "timm" and not tag and cfg is None:
        tag = ts.default_tag(variant)
        rep.log(f"preprocessing: timm's default tag {tag} (the file does not say which tag it is)")
    rep.log(f"loaded {variant} from {raw.layout} layout, weights_id {weights_id[:12]}")
    return LoadedModel(model, src.name, variant, label, weights_id, tag, src.preset(tag),
                       layout=raw.layout, num_classes=num_classes, catalogue_key=catalogue_key)
