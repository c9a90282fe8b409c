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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.atomic import atomic_path
from workbench.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    import torch

StateDict = dict[str, "torch.Tensor"]

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
    ema: str = ""  # "" (none in the file) | "available" (not loaded) | "loaded"
    ema_note: str = ""  # one phrase saying which EMA weights were found or loaded

    def describe(self) -> str:
        parts = [f"{self.file_format}", f"wrapper {self.wrapper!r}" if self.wrapper != "plain" else "plain dict"]
        if self.stripped_module_prefix:
            parts.append("'module.' prefix stripped")
        if self.ema_note:
            parts.append(self.ema_note)
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


#: Classes that mmengine's Runner pickles into training checkpoints (``epoch_N.pth``,
#: ``best_*.pth``: the message hub's history buffers, numpy arrays inside them, the
#: config). None is ever imported or called: each name is bound to an inert placeholder
#: that only stores the arguments and state the pickle gives it, so the file's
#: ``state_dict`` can be read while everything else stays dead data.
INERT_GLOBALS: tuple[str, ...] = (
    "mmengine.logging.history_buffer.HistoryBuffer",
    "mmengine.logging.message_hub.MessageHub",
    "mmengine.config.config.ConfigDict",
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.ndarray",
    "numpy.dtype",
)
_INERT_PATTERN = re.compile(r"^numpy\.dtypes\.\w+DType$")


class InertObject:
    """Stands in for an allow-listed class of a training checkpoint; runs nothing."""

    qualified_name = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs, self.state = args, kwargs, None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<inert {self.qualified_name}>"


def is_inert_global(name: str) -> bool:
    return name in INERT_GLOBALS or bool(_INERT_PATTERN.match(name)) or name == GETATTR


#: mmengine's HistoryBuffer keeps its statistics methods in a class dict; pickle (protocol 2)
#: writes each as ``builtins.getattr(HistoryBuffer, 'min')``. That one call is allowed, on the
#: inert placeholder and these names only: ``getattr(module, 'system')`` is the classic payload.
GETATTR = "builtins.getattr"
HISTORY_BUFFER = "mmengine.logging.history_buffer.HistoryBuffer"
HISTORY_STATISTICS = frozenset({"min", "max", "mean", "current"})


def _inert_getattr(obj: Any, name: Any) -> Any:
    """``builtins.getattr`` inside a checkpoint: an inert name for a HistoryBuffer statistic,
    else a refusal (raised as the unpickler's own error, so it is reported as one)."""
    import pickle

    if getattr(obj, "qualified_name", "") == HISTORY_BUFFER and name in HISTORY_STATISTICS:
        return f"<inert {HISTORY_BUFFER}.{name}>"
    target = getattr(obj, "qualified_name", "") or type(obj).__name__
    raise pickle.UnpicklingError(f"GLOBAL builtins.getattr refused: getattr on {target}.{name}")


def _inert_placeholders(names: list[str]) -> list[Callable[..., Any] | tuple[Callable[..., Any], str]]:
    return [(_inert_getattr, n) if n == GETATTR else
            (type(n.rsplit(".", 1)[-1], (InertObject,), {"qualified_name": n}), n) for n in names]


def _refusal(path: Path, exc: Exception) -> BadInput:
    text = str(exc)
    m = re.search(r"GLOBAL ([\w.]+)", text)
    if m:
        return BadInput(
            f"{path}: refused: the pickle asks to call {m.group(1)}; only plain tensors are "
            "loaded (torch.load weights_only=True), nothing in the file was run"
        )
    m = re.search(r"(Unsupported operand \d+|Unsupported class [\w.]+)", text)
    reason = m.group(1) if m else "not a plain tensor pickle"
    return BadInput(
        f"{path}: refused: {reason}; only plain tensor checkpoints are loaded "
        "(torch.load weights_only=True), nothing in the file was run"
    )


def _load_pickle(path: Path) -> Any:
    import pickle

    import torch

    def load() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # zip checkpoints are memory-mapped: no copy of a 500 MB w64 file into RAM
            return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))

    def refused(name: str) -> BadInput:
        return BadInput(f"{path}: refused: the pickle asks to call {name}; only plain tensors (and "
                        "mmengine's training records, kept inert) are loaded, nothing in the file was run")

    # The inert globals are allowed one by one as the unpickler itself meets them: a static
    # scan misses (or misnames) globals hidden behind memoised STACK_GLOBAL strings, so the
    # name refused is always the one the load really asked for.
    allowed: list[str] = []
    try:
        for _ in range(64):
            try:
                with torch.serialization.safe_globals(_inert_placeholders(allowed)):
                    return load()
            except pickle.UnpicklingError as exc:
                err = exc
            m = re.search(r"GLOBAL ([\w.]+)", str(err))
            name = "" if m is None else m.group(1) if "." in m.group(1) else f"builtins.{m.group(1)}"
            on = re.search(r"getattr on (\S+)", str(err))  # our inert getattr's refusal
            if name and on:
                raise refused(f"{name}({on.group(1)})")
            if name and not is_inert_global(name):
                raise refused(name)
            if not name:  # torch's unpickler has no STACK_GLOBAL: name what it would call
                hidden = [n for n in _stack_globals(path) if not is_inert_global(n)]
                if hidden:
                    raise refused(hidden[0])
            if not name or name in allowed:
                raise _refusal(path, err)
            allowed.append(name)
        raise _refusal(path, err)
    except BadInput:
        raise
    except Exception as exc:  # EOFError, RuntimeError (zip), KeyError, struct.error...: unreadable
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:120] or type(exc).__name__
        raise BadInput(
            f"{path}: cannot read this checkpoint (truncated or not a torch file): {first}"
        ) from None


def _stack_globals(path: Path) -> list[str]:
    """``module.name`` of each STACK_GLOBAL in a checkpoint's pickle, its two strings followed
    through the memo (a payload can hide ``posix.system`` behind memoised strings). Reads
    opcodes only (pickletools), never unpickles."""
    import pickletools

    try:
        with zipfile.ZipFile(path) as z:
            name = next(n for n in z.namelist() if n.endswith("data.pkl"))
            data = z.read(name)
    except (zipfile.BadZipFile, StopIteration, OSError):
        try:
            data = path.read_bytes()
        except OSError:
            return []
    memo: dict[int, Any] = {}
    recent: list[Any] = []
    found: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                memo[len(memo) if op.name == "MEMOIZE" else int(str(arg))] = recent[-1] if recent else None
                continue
            if op.name in ("GET", "BINGET", "LONG_BINGET"):
                recent.append(memo.get(int(str(arg))))
            elif op.name == "STACK_GLOBAL":
                if len(recent) >= 2 and all(isinstance(v, str) for v in recent[-2:]):
                    found.append(f"{recent[-2]}.{recent[-1]}")
                recent.append(None)
            else:
                recent.append(arg if isinstance(arg, str) else None)
    except Exception:  # a damaged pickle: what was found so far
        pass
    return found


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


EMA_PREFIX = "ema_"  # mmcls 0.x EMAHook: a buffer "ema_" + name.replace(".", "_") per parameter


def _select_ema(obj: Any, sd: StateDict, path: Path, ema: bool) -> tuple[StateDict, str, str]:
    """Pick the regular or the EMA weights; returns (state dict, ema status, note).

    Two EMA layouts exist: mmcls 0.x's EMAHook keeps ``ema_backbone_conv1_weight``-style
    buffers beside the regular keys; mmengine's EMAHook (mmpretrain 1.x) writes a
    separate ``ema_state_dict`` whose keys carry ``module.`` and a ``steps`` counter.
    """
    ema_keys = [k for k in sd if k.startswith(EMA_PREFIX)]
    regular = {k: v for k, v in sd.items() if not k.startswith(EMA_PREFIX)} if ema_keys else sd
    engine = obj.get("ema_state_dict") if isinstance(obj, dict) else None
    engine = engine if isinstance(engine, dict) and engine else None
    if ema_keys:
        if not ema:
            return regular, "available", (f"{len(ema_keys)} EMA weights (ema_* keys, mmcls 0.x EMAHook) "
                                          "not loaded: --ema loads them")
        by_flat = {EMA_PREFIX + k.replace(".", "_"): k for k in regular}
        unmatched = [k for k in ema_keys if k not in by_flat]
        if unmatched:
            raise BadInput(f"{path}: EMA key {unmatched[0]} matches no weight of the checkpoint")
        out = dict(regular)
        for k in ema_keys:
            out[by_flat[k]] = sd[k]
        return out, "loaded", f"EMA weights loaded ({len(ema_keys)} ema_* keys replace their regular keys)"
    if engine is not None:
        if not ema:
            return sd, "available", "EMA weights in 'ema_state_dict' (mmengine EMAHook) not loaded: --ema loads them"
        import torch

        out = {k.removeprefix("module."): v for k, v in engine.items()
               if isinstance(v, torch.Tensor) and k != "steps"}
        return out, "loaded", f"EMA weights loaded from 'ema_state_dict' ({len(out)} tensors)"
    if ema:
        raise BadInput(f"{path}: --ema: this checkpoint holds no EMA weights (no ema_* keys, no ema_state_dict)")
    return sd, "", ""


def read_checkpoint(path: str | Path, ema: bool = False) -> RawCheckpoint:
    """Read a checkpoint file into a flat state dict and say what layout it is in.

    ``ema=True`` loads the exponential-moving-average weights a training checkpoint
    carries instead of the regular ones (BadInput when it has none).
    """
    p = Path(path).expanduser()
    if p.is_dir():
        raise BadInput(f"{p}: is a folder; --weights takes one checkpoint file "
                       "(.pth, .pth.tar, .safetensors) inside it")
    if not p.is_file():
        raise BadInput(f"{p}: weights file not found")
    if p.stat().st_size == 0:
        raise BadInput(f"{p}: weights file is empty")
    obj: Any = None
    if _is_safetensors(p):
        sd, fmt = _load_safetensors(p), "safetensors"
        wrapper, stripped = "plain", False
        if all(k.startswith("module.") for k in sd):
            sd, stripped = {k[len("module."):]: v for k, v in sd.items()}, True
    else:
        obj = _load_pickle(p)
        fmt = "pickle"
        sd, wrapper, stripped = unwrap(obj, p)
    sd, ema_status, ema_note = _select_ema(obj, sd, p, ema)
    _refuse_non_finite(sd, p)
    return RawCheckpoint(p.resolve(), sd, fmt, wrapper, stripped, detect_layout(sd, p), ema_status, ema_note)


def _refuse_non_finite(sd: StateDict, path: Path) -> None:
    """NaN/inf weights would only show later as a baffling parity failure: name the tensor."""
    import torch

    for k, v in sd.items():
        if v.is_floating_point() and v.numel() and not bool(torch.isfinite(v).all()):
            bad = int((~torch.isfinite(v)).sum())
            raise BadInput(f"{path}: tensor {k} holds {bad} NaN/inf value(s) of {v.numel()}; "
                           "these weights are damaged (a diverged training run?)")


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
