"""The torch-cuda artifact and the model it opens into.

The artifact is the canonical model's own state_dict in one ``.safetensors`` file whose
metadata holds the recipe (architecture, classes, dtype, channels_last, BatchNorm folding,
mode) and the weights' sha256. Opening it builds the timm architecture, loads the weights
strictly, folds every BatchNorm into the convolution before it (``torch.fx``'s own
conv+bn fusion: HRNet is traceable), then casts and moves it. Folding at open time keeps
the file readable by any torch tool and exact in fp32; the fold itself is checked by the
top-5 test against the eager model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    import torch

FORMAT = "hrnet-wb torch-cuda v1"
MODES = ("auto", "eager", "graphs", "compile")
DTYPES = ("fp32", "tf32", "fp16", "bf16")


@dataclass(frozen=True)
class TorchCudaRecipe:
    """How the artifact's model is prepared when it is opened."""

    arch: str
    num_classes: int
    dtype: str = "fp16"
    channels_last: bool = True
    fold_bn: bool = True
    mode: str = "auto"
    weights_sha256: str = ""

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise BadInput(f"torch-cuda dtype {self.dtype!r}: expected one of {', '.join(DTYPES)}")
        if self.mode not in MODES:
            raise BadInput(f"torch-cuda mode {self.mode!r}: expected one of {', '.join(MODES)}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def torch_dtype(dtype: str) -> torch.dtype:
    import torch

    return {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16,
            "bf16": torch.bfloat16}[dtype]


def weights_sha256(state: dict[str, torch.Tensor]) -> str:
    """sha256 over names, dtypes, shapes and bytes, in name order: the weights' identity."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(_u8()).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _u8() -> torch.dtype:
    import torch

    return torch.uint8


def architecture(model: torch.nn.Module) -> str:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return str(cfg.get("architecture") or type(model).__name__)


def save_artifact(model: torch.nn.Module, recipe_dtype: str, path: Path,
                  channels_last: bool = True, mode: str = "auto") -> TorchCudaRecipe:
    """Write ``model``'s fp32 state_dict and the recipe to ``path`` (.safetensors)."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().float().contiguous() if v.is_floating_point() else
             v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    recipe = TorchCudaRecipe(arch=architecture(model),
                             num_classes=int(getattr(model, "num_classes", 1000)),
                             dtype=recipe_dtype, channels_last=channels_last, mode=mode,
                             weights_sha256=weights_sha256(state))
    save_file(state, str(path), metadata={"format": FORMAT, "recipe": json.dumps(recipe.as_dict())})
    return recipe


def read_recipe(path: Path) -> TorchCudaRecipe:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:
        raise BadInput(f"{path}: not a torch-cuda artifact ({exc})") from None
    if meta.get("format") != FORMAT:
        raise BadInput(f"{path}: not a torch-cuda artifact (metadata format "
                       f"{meta.get('format')!r}, expected {FORMAT!r})")
    return TorchCudaRecipe(**json.loads(meta["recipe"]))


def load_model(path: Path, recipe: TorchCudaRecipe) -> torch.nn.Module:
    """The timm architecture with the artifact's weights (strict), in eval mode, fp32."""
    import timm
    from safetensors.torch import load_file

    state = load_file(str(path))
    if recipe.weights_sha256 and weights_sha256(state) != recipe.weights_sha256:
        raise BadInput(f"{path}: weights do not match the sha256 the artifact recorded")
    kw: dict[str, Any] = {"pretrained": False, "num_classes": recipe.num_classes}
    if "downsamp_modules.0.0.bias" not in state and "final_layer.0.weight" in state:
        kw["head_conv_bias"] = False  # ssld-style heads
    model = timm.create_model(recipe.arch, **kw)
    model.load_state_dict(state, strict=True)
    return model.eval()


def prepare(model: torch.nn.Module, dtype: str, device: str, channels_last: bool = True,
            fold_bn: bool = True) -> tuple[torch.nn.Module, int]:
    """Fold BatchNorm (``torch.fx`` conv+bn fusion), cast, move, set the memory format.
    Returns the model and the number of BatchNorms folded."""
    import torch

    model = model.eval()
    folded = 0
    if fold_bn:
        from torch.fx.experimental.optimization import fuse

        before = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
        model = fuse(model)
        after = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
        folded = before - after
    model = model.to(device=device, dtype=torch_dtype(dtype))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)
    return model, folded
