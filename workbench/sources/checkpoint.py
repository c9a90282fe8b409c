"""Reading and writing checkpoint files safely, whatever source wrote them.

Three file types (``.pth``, ``.pth.tar``, ``.safetensors``; ``.pt``/``.bin`` are read like
``.pth``), three wrappers (``{'state_dict': ...}``, ``{'model': ...}``, a plain dict) and a
``module.`` prefix from DataParallel are all unwrapped here, so the sources only ever see a
flat ``{key: tensor}`` dict.

Pickles are loaded with ``torch.load(weights_only=True)`` and nothing else: a checkpoint
whose pickle asks for any callable (``os.system``, a custom class...) is refused before
the callable is ever resolved, and the refusal is one line naming the global it wanted.
"""

from __future__ import annotations

import hashlib
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.atomic import atomic_path
from workbench.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    import torch

StateDict = dict[str, "torch.Tensor"]

PICKLE_SUFFIXES = (".pth", ".pth.tar", ".pt", ".bin", ".tar", ".ckpt")
SAFETENSORS_SUFFIXES = (".safetensors",)

# Layout names: "canonical" is the official repo's and timm's key set (identical, NOTES §1).
CANONICAL = "canonical"
MMCLS = "mmcls"


@dataclass
class RawCheckpoint:
    """A checkpoint file's tensors, unwrapped, plus how they were stored."""

    path: Path
    state_dict: StateDict
    file_format: str  # "pickle" | "safetensors"
    wrapper: str  # "state_dict" | "model" | "plain"
    stripped_module_prefix: bool
    layout: str  # CANONICAL | MMCLS

    def describe(self) -> str:
        parts = [f"{self.file_format}", f"wrapper {self.wrapper!r}" if self.wrapper != "plain" else "plain dict"]
        if self.stripped_module_prefix:
            parts.append("'module.' prefix stripped")
        return f"{len(self.state_dict)} tensors, " + ", ".join(parts) + f", {self.layout} layout"


def _is_safetensors(path: Path) -> bool:
    if path.name.lower().endswith(SAFETENSORS_SUFFIXES):
        return True
    # Sniff unknown suffixes: safetensors starts with a u64 header length, then '{'.
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{"


def _load_pickle(path: Path) -> Any:
    import pickle

    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # zip checkpoints are memory-mapped: no copy of a 500 MB w64 file into RAM
            return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as exc:
        text = str(exc)
        m = re.search(r"GLOBAL ([\w.]+)", text)
        if m:
            raise BadInput(
                f"{path}: refused: the pickle asks to call {m.group(1)}; only plain tensors are "
                "loaded (torch.load weights_only=True), nothing in the file was run"
            ) from None
        m = re.search(r"(Unsupported operand \d+|Unsupported class [\w.]+)", text)
        reason = m.group(1) if m else "not a plain tensor pickle"
        raise BadInput(
            f"{path}: refused: {reason}; only plain tensor checkpoints are loaded "
            "(torch.load weights_only=True), nothing in the file was run"
        ) from None
    except Exception as exc:  # EOFError, RuntimeError (zip), KeyError, struct.error...: unreadable
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:120] or type(exc).__name__
        raise BadInput(
            f"{path}: cannot read this checkpoint (truncated or not a torch file): {first}"
        ) from None


def _load_safetensors(path: Path) -> StateDict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, Exception) as exc:  # header/length errors on a cut or corrupt file
        first = (str(exc).splitlines() or [""])[0][:120]
        raise BadInput(f"{path}: cannot read this safetensors file (truncated or corrupt): {first}") from None


def unwrap(obj: Any, path: Path) -> tuple[StateDict, str, bool]:
    """Find the state dict inside a checkpoint object; strip DataParallel's ``module.``."""
    import torch

    if not isinstance(obj, dict):
        raise BadInput(f"{path}: holds a {type(obj).__name__}, not a dict of tensors")
    wrapper = "plain"
    for key in ("state_dict", "model", "module"):
        inner = obj.get(key)
        if isinstance(inner, dict) and any(isinstance(v, torch.Tensor) for v in inner.values()):
            obj, wrapper = inner, key
            break
    sd = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not sd:
        keys = ", ".join(map(str, list(obj)[:5]))
        raise BadInput(f"{path}: no tensors found (top-level keys: {keys})")
    stripped = False
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
        stripped = True
    return sd, wrapper, stripped


def detect_layout(sd: StateDict, path: Path) -> str:
    """``backbone.``/``head.fc.`` keys mean mmcls; ``conv1``/``layer1`` keys mean official/timm."""
    if any(k.startswith("backbone.") for k in sd):
        return MMCLS
    if "conv1.weight" in sd and any(k.startswith("layer1.") for k in sd):
        return CANONICAL
    sample = ", ".join(list(sd)[:3])
    raise BadInput(f"{path}: not an HRNet classifier checkpoint (no conv1/layer1 or backbone. keys; first keys: {sample})")


def read_checkpoint(path: str | Path) -> RawCheckpoint:
    """Read a checkpoint file into a flat state dict and say what layout it is in."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise BadInput(f"{p}: weights file not found")
    if p.stat().st_size == 0:
        raise BadInput(f"{p}: weights file is empty")
    if _is_safetensors(p):
        sd, fmt = _load_safetensors(p), "safetensors"
        wrapper, stripped = "plain", False
        if all(k.startswith("module.") for k in sd):
            sd, stripped = {k[len("module."):]: v for k, v in sd.items()}, True
    else:
        obj = _load_pickle(p)
        fmt = "pickle"
        sd, wrapper, stripped = unwrap(obj, p)
    return RawCheckpoint(p.resolve(), sd, fmt, wrapper, stripped, detect_layout(sd, p))


def state_dict_sha256(sd: StateDict) -> str:
    """A content id for weights: sha256 over sorted keys, dtypes, shapes and raw bytes.

    Independent of the file's container and of key order, so the same weights saved in
    three layouts and loaded back to the canonical model get the same id.
    """
    import torch

    h = hashlib.sha256()
    for k in sorted(sd):
        t = sd[k].detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}\n".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().data)  # the buffer itself, no copy
    return h.hexdigest()


def save_state_dict(sd: StateDict, path: str | Path, wrapper: str = "state_dict",
                    meta: dict[str, Any] | None = None) -> Path:
    """Write ``sd`` atomically; ``.safetensors`` by suffix, else a torch zip pickle.

    ``wrapper`` mimics how each source stores its files: "state_dict" (official
    ``checkpoint.pth.tar``, mmcls with ``meta``), or "plain" (official ``model_best``).
    """
    p = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in sd.items()}
    with atomic_path(p) as tmp:
        if p.name.lower().endswith(SAFETENSORS_SUFFIXES):
            from safetensors.torch import save_file

            save_file(tensors, str(tmp), metadata={k: str(v) for k, v in (meta or {}).items()})
        else:
            import torch

            obj: dict[str, Any] = tensors if wrapper == "plain" else {wrapper: tensors}
            if meta is not None and wrapper != "plain":
                obj["meta"] = dict(meta)
            torch.save(obj, tmp)
    return p
