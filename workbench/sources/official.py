"""The official HRNet-Image-Classification repository: experiment yamls and checkpoints.

The official checkpoints already use the canonical keys (timm copied the model), so
loading is plain; what this module adds is reading an experiment yaml's
``MODEL.EXTRA.STAGE1..4`` into timm's stage configuration, including the repo's
``NUM_RANCHES`` typo in STAGE1, and naming the variant it describes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.sources.checkpoint import StateDict, save_state_dict
from workbench.sources.variants import WIDTHS, arch_config

_STAGES = ("STAGE1", "STAGE2", "STAGE3", "STAGE4")


def _stage_from_yaml(stage: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    def need(key: str, *alts: str) -> Any:
        for k in (key, *alts):
            if k in stage:
                return stage[k]
        raise BadInput(f"{path}: MODEL.EXTRA.{name}.{key} is missing")

    try:
        channels = tuple(int(c) for c in need("NUM_CHANNELS"))
        blocks = tuple(int(b) for b in need("NUM_BLOCKS"))
        branches = int(stage.get("NUM_BRANCHES", stage.get("NUM_RANCHES", len(channels))))
        block = str(need("BLOCK")).upper()
        modules = int(need("NUM_MODULES"))
        fuse = str(stage.get("FUSE_METHOD", "SUM")).upper()
    except (TypeError, ValueError) as exc:
        raise BadInput(f"{path}: MODEL.EXTRA.{name} has a non-numeric value ({exc})") from None
    if not (len(channels) == len(blocks) == branches):
        raise BadInput(
            f"{path}: MODEL.EXTRA.{name}: NUM_BRANCHES={branches} but {len(blocks)} NUM_BLOCKS and "
            f"{len(channels)} NUM_CHANNELS"
        )
    if block not in ("BASIC", "BOTTLENECK"):
        raise BadInput(f"{path}: MODEL.EXTRA.{name}.BLOCK is {block!r}; expected BASIC or BOTTLENECK")
    if fuse != "SUM":
        raise BadInput(f"{path}: MODEL.EXTRA.{name}.FUSE_METHOD is {fuse!r}; HRNet classifiers use SUM")
    return {"num_modules": modules, "num_branches": branches, "block_type": block,
            "num_blocks": blocks, "num_channels": channels, "fuse_method": fuse}


def read_experiment_yaml(path: str | Path) -> dict[str, Any]:
    """An official experiment yaml → timm's stage configuration (``stem_width`` + stage1..4)."""
    import yaml

    p = Path(path).expanduser()
    if not p.is_file():
        raise BadInput(f"{p}: config yaml not found")
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BadInput(f"{p}: not a readable yaml file ({type(exc).__name__})") from None
    extra = ((doc or {}).get("MODEL") or {}).get("EXTRA") if isinstance(doc, dict) else None
    if not isinstance(extra, dict) or not all(isinstance(extra.get(s), dict) for s in _STAGES):
        raise BadInput(f"{p}: no MODEL.EXTRA.STAGE1..STAGE4 (is this an official HRNet experiment yaml?)")
    cfg: dict[str, Any] = {"stem_width": 64}
    for i, s in enumerate(_STAGES, start=1):
        cfg[f"stage{i}"] = _stage_from_yaml(extra[s], s, p)
    if cfg["stage1"]["num_branches"] != 1 or cfg["stage4"]["num_branches"] != 4:
        raise BadInput(f"{p}: stage 1 must have 1 branch and stage 4 must have 4 (the classification head needs 4)")
    return cfg


def _normal(cfg: dict[str, Any]) -> dict[str, Any]:
    return {
        k: ({kk: tuple(vv) if isinstance(vv, (list, tuple)) else vv for kk, vv in v.items()}
            if isinstance(v, dict) else v)
        for k, v in cfg.items()
    }


def variant_for_config(cfg: dict[str, Any]) -> str | None:
    """The timm variant whose stage configuration equals ``cfg``, or None for a custom net."""
    want = _normal(cfg)
    for name in WIDTHS:
        if _normal(arch_config(name)) == want:
            return name
    return None


def save_official_checkpoint(model_or_sd: Any, path: str | Path, wrapper: str = "state_dict") -> Path:
    """Write a canonical model as the official repo stores it: ``{'state_dict': ...}``
    (``checkpoint.pth.tar``) or, with ``wrapper='plain'``, a bare dict: what
    ``tools/valid.py --testModel`` loads and ``model_best.pth.tar`` holds (``export --to
    official`` writes this one by default)."""
    sd: StateDict = model_or_sd.state_dict() if hasattr(model_or_sd, "state_dict") else model_or_sd
    return save_state_dict(sd, path, wrapper=wrapper)
