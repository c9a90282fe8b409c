"""Export the canonical model to ONNX (or TorchScript), then prove the file computes the same.

Every export is followed by a parity check: the same N images go through torch and
through the exported file, and the worst absolute logit difference and the worst
per-image cosine are recorded with the artifact (in the ONNX ``metadata_props``, and in
the returned :class:`ExportResult`). Above tolerance the export fails and no file is
left behind, so nothing downstream can build on a graph that disagrees with torch.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.atomic import atomic_path
from workbench.errors import BadInput, CheckFailed
from workbench.events import Reporter
from workbench.input_size import check_input_size
from workbench.parity import check_parity

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

OPSET_MIN, OPSET_MAX, OPSET_DEFAULT = 9, 20, 17
DEFAULT_PARITY_IMAGES = 4
INPUT_NAME, OUTPUT_NAME = "input", "logits"
META_PREFIX = "hrnet_wb."


@dataclass(frozen=True)
class ExportResult:
    """An exported file and the evidence that it matches torch."""

    path: Path
    opset: int  # 0 for TorchScript
    dynamic_batch: bool
    input_size: tuple[int, int]
    parity_max_abs: float
    parity_cosine: float  # the worst (lowest) per-image cosine
    parity_images: int
    seconds: float
    format: str = "onnx"  # "onnx" | "torchscript"
    tolerance: float = 1e-4  # relative to the logits' scale (:class:`Parity`)
    parity_rel: float = float("nan")  # max abs / max |reference logit|; nan: not recorded

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        d["input_size"] = list(self.input_size)
        return d


def check_opset(opset: int) -> int:
    if not OPSET_MIN <= int(opset) <= OPSET_MAX:
        raise BadInput(f"opset {opset}: supported range is {OPSET_MIN}-{OPSET_MAX} "
                       "(7 and 8 cannot export HRNet's upsample); default 17")
    return int(opset)


def export_cache_path(cache: Path, variant: str, weights_id: str, opset: int, dynamic_batch: bool,
                      input_size: tuple[int, int]) -> Path:
    """Where an export of these weights at these settings lives under ``<home>/cache``: the
    pipeline, ``hrnet-wb build`` and ``--compare-backends`` share one file per settings."""
    import hashlib

    h, w = input_size
    key = hashlib.sha256(f"{weights_id}|{opset}|{dynamic_batch}|{h}x{w}".encode()).hexdigest()[:12]
    return cache / "exports" / f"{variant}-{h}x{w}-op{opset}-{key}.onnx"


def default_parity_inputs(n: int, input_size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Deterministic standard-normal NCHW inputs, roughly the scale of normalized images."""
    return np.random.default_rng(seed).standard_normal((n, 3, *input_size)).astype(np.float32)


def _check_parity_inputs(x: Any, input_size: tuple[int, int]) -> np.ndarray:
    """``x`` as float32 NCHW at ``input_size``, or seeded defaults when ``x`` is None."""
    if x is None:
        return default_parity_inputs(DEFAULT_PARITY_IMAGES, input_size)
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[1] != 3 or tuple(arr.shape[2:]) != tuple(input_size):
        raise BadInput(f"parity inputs have shape {tuple(arr.shape)}; expected (N, 3, {input_size[0]}, {input_size[1]})")
    if arr.shape[0] == 0:
        raise BadInput("parity inputs are empty; give at least one image")
    return arr


def torch_logits(model: nn.Module, x: np.ndarray, batch: int = 8) -> np.ndarray:
    """The reference: torch eager fp32 logits, in batches."""
    import torch

    model.eval()
    outs = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            outs.append(model(torch.from_numpy(x[i : i + batch])).float().numpy())
    return np.concatenate(outs)


def _onnx_logits(path: Path, x: np.ndarray, dynamic_batch: bool, reporter: Reporter) -> np.ndarray:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    step = 8 if dynamic_batch else 1
    outs = []
    for i in range(0, len(x), step):
        reporter.check_cancelled()
        outs.append(sess.run([OUTPUT_NAME], {INPUT_NAME: x[i : i + step]})[0])
    return np.concatenate(outs)


def export_onnx(model: nn.Module, out: str | Path, input_size: tuple[int, int] | list[int] | int,
                opset: int = OPSET_DEFAULT, dynamic_batch: bool = True, parity_inputs: Any = None,
                tolerance: float = 1e-4, reporter: Reporter | None = None) -> ExportResult:
    """Export ``model`` to ONNX at ``out`` (atomically), check it, and gate on parity.

    Uses the TorchScript-based exporter (``dynamo=False``), which works from opset 9 and
    folds BN into the convs (NOTES §4). ``onnx.checker`` runs on the file; then
    ``parity_inputs`` (default: 4 seeded random images) run through torch and ONNX Runtime.
    Raises BadInput for a bad size/opset, CheckFailed when parity exceeds ``tolerance``.
    """
    import onnx
    import torch

    rep = reporter or Reporter()
    size = check_input_size(input_size)
    opset = check_opset(opset)
    x = _check_parity_inputs(parity_inputs, size)
    out = Path(out)
    t0 = time.perf_counter()
    model.eval()
    rep.log(f"exporting ONNX opset {opset}, {'dynamic' if dynamic_batch else 'static'} batch, "
            f"input 1x3x{size[0]}x{size[1]} → {out}")
    with atomic_path(out, suffix=".onnx") as tmp:
        dummy = torch.from_numpy(x[:1].copy())
        dyn = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
        try:
            with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(model, (dummy,), str(tmp), dynamo=False, opset_version=opset,
                                  input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                  dynamic_axes=dyn, do_constant_folding=True)
        except Exception as exc:  # the exporter's own errors are long; keep one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise CheckFailed(f"ONNX export at opset {opset} failed: {first}") from None
        rep.progress(1, 3, "steps")  # export, check, parity: the stage's own unit
        rep.check_cancelled()
        try:
            onnx.checker.check_model(str(tmp))
        except onnx.checker.ValidationError as exc:
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            raise CheckFailed(f"onnx.checker rejected the export: {first}") from None
        rep.progress(2, 3, "steps")
        rep.log(f"onnx.checker ok; parity on {len(x)} images")
        ref = torch_logits(model, x)
        got = _onnx_logits(tmp, x, dynamic_batch, rep)
        p = check_parity("ONNX", ref, got, tolerance)
        max_abs, cos = p.max_abs, p.cosine
        rep.progress(3, 3, "steps")
        rep.log(f"parity vs torch: {p.summary()} on {len(x)} images")
        proto = onnx.load(str(tmp))
        meta = {"parity_max_abs": repr(max_abs), "parity_cosine": repr(cos), "parity_images": str(len(x)),
                "parity_rel": repr(p.rel), "tolerance": repr(tolerance), "input_size": f"{size[0]}x{size[1]}",
                "dynamic_batch": str(dynamic_batch).lower(), "torch": torch.__version__}
        for k, v in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = META_PREFIX + k, v
        proto.producer_name = "hrnet-wb"
        onnx.save(proto, str(tmp))
    seconds = time.perf_counter() - t0
    res = ExportResult(out, opset, dynamic_batch, size, max_abs, cos, len(x), round(seconds, 3),
                       "onnx", tolerance, p.rel)
    rep.artifact("onnx", str(out), out.name)
    return res


def read_export_metadata(path: str | Path) -> ExportResult | None:
    """The ExportResult recorded inside an ONNX file this module wrote, else None.

    Lets a caller reuse a cached export without re-running the parity check.
    """
    import onnx

    p = Path(path)
    if not p.is_file():
        return None
    try:
        proto = onnx.load(str(p), load_external_data=False)
    except Exception:
        return None
    meta = {e.key[len(META_PREFIX):]: e.value for e in proto.metadata_props if e.key.startswith(META_PREFIX)}
    if "parity_max_abs" not in meta:
        return None
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    h, w = (int(v) for v in meta["input_size"].split("x"))
    return ExportResult(p, int(opset), meta.get("dynamic_batch") == "true", (h, w),
                        float(meta["parity_max_abs"]), float(meta["parity_cosine"]),
                        int(meta["parity_images"]), 0.0, "onnx", float(meta.get("tolerance", "1e-4")),
                        float(meta.get("parity_rel", "nan")))


@dataclass(frozen=True)
class OnnxInput:
    """An ONNX file's image input and what its graph says about precision.

    Eval and bench read this to pick batch, size and dtype for a file they did not build.
    """

    rank: int  # 0 when the graph has no non-initializer input
    batch: int | None  # None where the axis is dynamic
    height: int | None
    width: int | None
    fp16: bool
    quantized: bool  # QDQ or QLinear/Integer ops
    props: dict[str, str]


def read_onnx_input(path: str | Path) -> OnnxInput:
    """Read the first graph input of an ONNX file (no external data); BadInput if unreadable."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise BadInput(f"{path}: not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    inits = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in inits]
    dims: list[int | None] = []
    fp16 = False
    if inputs:
        t = inputs[0].type.tensor_type
        dims = [int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None
                for d in t.shape.dim]
        fp16 = t.elem_type == onnx.TensorProto.FLOAT16
    h, w = (dims[2], dims[3]) if len(dims) == 4 else (None, None)
    ops = {n.op_type for n in proto.graph.node}
    return OnnxInput(rank=len(dims), batch=dims[0] if dims else None, height=h, width=w,
                     fp16=fp16, quantized=bool(ops & {"QuantizeLinear", "QLinearConv", "ConvInteger"}),
                     props={e.key: e.value for e in proto.metadata_props})


def export_torchscript(model: nn.Module, out: str | Path, input_size: tuple[int, int] | list[int] | int,
                       parity_inputs: Any = None, tolerance: float = 1e-4,
                       reporter: Reporter | None = None) -> ExportResult:
    """Trace ``model`` to TorchScript at ``out`` (atomically), reload it, gate on parity.

    The parity figures go into the archive's ``extra_files`` as ``hrnet_wb.json``.
    """
    import torch

    rep = reporter or Reporter()
    size = check_input_size(input_size)
    x = _check_parity_inputs(parity_inputs, size)
    out = Path(out)
    t0 = time.perf_counter()
    model.eval()
    rep.log(f"tracing TorchScript, input Nx3x{size[0]}x{size[1]} → {out}")
    with atomic_path(out, suffix=".pt") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 2.9+ marks torch.jit deprecated; it still works
        with torch.no_grad():
            traced = torch.jit.trace(model, torch.from_numpy(x[:1].copy()), check_trace=False)
        torch.jit.save(traced, str(tmp))
        loaded = torch.jit.load(str(tmp), map_location="cpu")
        ref = torch_logits(model, x)
        got = torch_logits(loaded, x)
        rep.progress(1, 1, "steps")
        p = check_parity("TorchScript", ref, got, tolerance)
        max_abs, cos = p.max_abs, p.cosine
        rep.log(f"parity vs torch: {p.summary()} on {len(x)} images")
        record = {"parity_max_abs": max_abs, "parity_cosine": cos, "parity_images": len(x),
                  "tolerance": tolerance, "input_size": list(size), "torch": torch.__version__}
        torch.jit.save(traced, str(tmp), _extra_files={"hrnet_wb.json": json.dumps(record)})
    seconds = time.perf_counter() - t0
    rep.artifact("torchscript", str(out), out.name)
    return ExportResult(out, 0, True, size, max_abs, cos, len(x), round(seconds, 3), "torchscript",
                        tolerance, p.rel)


CHECKPOINT_LAYOUTS = ("official", "mmcls", "safetensors")


def export_checkpoint(model: nn.Module, out: str | Path, layout: str, variant: str,
                      input_size: tuple[int, int] | list[int] | int = (224, 224), parity_inputs: Any = None,
                      tolerance: float = 1e-5, reporter: Reporter | None = None,
                      official_wrapper: str = "plain") -> ExportResult:
    """Write ``model`` as a checkpoint in another source's layout, then load it back
    through :func:`workbench.sources.load_model` and gate on logit parity.

    ``official``: canonical keys in a plain dict, which is what the official
    ``tools/valid.py --testModel`` loads (``model.load_state_dict(torch.load(f))``) and what
    ``init_weights(pretrained=...)`` reads; ``official_wrapper="state_dict"`` writes
    ``{'state_dict': ...}`` instead, as the official ``checkpoint.pth.tar`` holds it;
    ``mmcls``: ``{'meta', 'state_dict'}`` with ``backbone./neck.0./head.fc.`` keys and the
    head-conv biases folded into BN; ``safetensors``: canonical keys, no pickle at all.
    """
    from workbench.sources import ModelSpec, load_model
    from workbench.sources.checkpoint import save_state_dict
    from workbench.sources.mmcls import save_mmcls_checkpoint
    from workbench.sources.official import save_official_checkpoint

    rep = reporter or Reporter()
    if layout not in CHECKPOINT_LAYOUTS:
        raise BadInput(f"checkpoint layout {layout!r}: expected one of {', '.join(CHECKPOINT_LAYOUTS)}")
    size = check_input_size(input_size)
    x = _check_parity_inputs(parity_inputs, size)
    out = Path(out)
    t0 = time.perf_counter()
    rep.log(f"writing a {layout} checkpoint → {out}")
    if layout == "mmcls":
        save_mmcls_checkpoint(model, out, variant)
    elif layout == "official":
        if official_wrapper not in ("plain", "state_dict"):
            raise BadInput(f"official wrapper {official_wrapper!r}: expected plain or state_dict")
        save_official_checkpoint(model, out, wrapper=official_wrapper)
    else:
        if not out.name.endswith(".safetensors"):
            raise BadInput(f"{out}: a safetensors checkpoint needs the .safetensors suffix")
        save_state_dict(model.state_dict(), out)
    try:
        back = load_model(ModelSpec(source="mmcls" if layout == "mmcls" else "official",
                                    variant=variant, weights=str(out)))
        assert back.model is not None
        p = check_parity(f"{layout} checkpoint", torch_logits(model, x), torch_logits(back.model, x),
                         tolerance)
        max_abs, cos = p.max_abs, p.cosine
        rep.log(f"reloaded through hrnet-wb: {p.summary()} on {len(x)} images")
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    rep.artifact("checkpoint", str(out), out.name)
    return ExportResult(out, 0, True, size, max_abs, cos, len(x), round(time.perf_counter() - t0, 3),
                        layout, tolerance, p.rel)


