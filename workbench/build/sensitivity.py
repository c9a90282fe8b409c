"""Per-node quantization sensitivity, and the accuracy-budget search that uses it.

Sensitivity runs the fp32 model and the QDQ int8 model side by side on calibration images
with every intermediate tensor exposed (ORT's ``qdq_loss_debug``: the same augmentation
and the same pre/post-QDQ matching), and reports per node:

* ``sqnr_db`` — the signal-to-quantization-noise ratio of the node's output as the int8
  model computes it against the fp32 model's (ORT's ``xmodel_err``): accumulated error;
* ``local_sqnr_db`` — the SQNR of quantizing that tensor alone (ORT's ``qdq_err``).

Nodes are ranked by ``local_sqnr_db`` (lowest first): accumulated error only grows with
depth, so ranking by it would always blame the last layers. Norms are accumulated one
batch at a time instead of holding every activation of every image (ORT's
``collect_activations`` keeps all of them: ~200 MB per 224² image on hrnet_w18).

HRNet's fuse-layer Adds join branches whose ranges differ by an order of magnitude (an
upsampled low-resolution branch plus a high-resolution one), so one u8 scale fits neither
input well. The accuracy-budget search therefore excludes those first, worst first, then
the other nodes, until the int8 model's top-1 agrees with fp32's on held-out images.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import BadInput
from workbench.events import Reporter


@dataclass(frozen=True)
class NodeSensitivity:
    node: str
    op_type: str
    tensor: str
    kind: str  # fuse | head-fuse | residual | conv | other
    local_sqnr_db: float
    sqnr_db: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SensitivityReport:
    artifact: str
    images: int
    nodes: list[NodeSensitivity]
    seconds: float

    def ranked(self) -> list[NodeSensitivity]:
        return sorted(self.nodes, key=lambda n: (n.local_sqnr_db, n.node))

    def exclusion_order(self) -> list[str]:
        """Fusion Adds first (worst first), then every other node with a quantized input
        (worst first). Excluding all of them leaves no quantized activation."""
        ranked = self.ranked()
        fuse = [n.node for n in ranked if n.kind in ("fuse", "head-fuse")]
        rest = [n.node for n in ranked if n.kind not in ("fuse", "head-fuse")]
        return fuse + rest

    def as_dict(self) -> dict[str, Any]:
        return {"artifact": self.artifact, "images": self.images, "seconds": round(self.seconds, 2),
                "nodes": [n.as_dict() for n in self.ranked()]}


def classify_nodes(model: Any) -> dict[str, str]:
    """Tag each node of an HRNet ONNX graph: fuse-layer Adds, head Adds, residual Adds...

    A fusion Add is an Add fed by a ``fuse_layers`` branch (conv or nearest Resize) or by
    another fusion Add (HRNet sums 3–4 branches as a chain). A head Add joins an
    ``incre_modules`` output with a ``downsamp_modules`` one. Names come from the exporter's
    module scopes, which timm, the official repo and mmcls share after canonicalisation.
    """
    producer = {o: n for n in model.graph.node for o in n.output}
    kinds: dict[str, str] = {}
    for n in model.graph.node:
        if n.op_type != "Add":
            kinds[n.name] = "conv" if n.op_type == "Conv" else "other"
            continue
        srcs = [producer[i] for i in n.input if i in producer]
        if any("fuse_layers" in s.name or kinds.get(s.name) == "fuse" for s in srcs):
            kinds[n.name] = "fuse"
        elif any("downsamp_modules" in s.name for s in srcs):
            kinds[n.name] = "head-fuse"
        else:
            kinds[n.name] = "residual"
    return kinds


class _Accumulator:
    """Running sums of ‖x‖² and ‖x − y‖² per tensor, so SQNR needs no stored activations."""

    def __init__(self) -> None:
        self.signal: dict[str, float] = {}
        self.noise: dict[str, float] = {}

    def add(self, name: str, ref: np.ndarray, got: np.ndarray) -> None:
        r = np.asarray(ref, dtype=np.float64).ravel()
        g = np.asarray(got, dtype=np.float64).ravel()
        self.signal[name] = self.signal.get(name, 0.0) + float(r @ r)
        d = r - g
        self.noise[name] = self.noise.get(name, 0.0) + float(d @ d)

    def sqnr(self, name: str) -> float:
        """20·log10(‖x‖/‖x−y‖), as ORT's ``compute_signal_to_quantization_noice_ratio``."""
        eps = float(np.finfo(float).eps)
        s = max(math.sqrt(self.signal[name]), eps)
        n = max(math.sqrt(self.noise[name]), eps)
        return 20 * math.log10(s / n)


def quant_params(qdq_model: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Activation tensor -> (scale, zero point) from the QDQ model's QuantizeLinear nodes.

    Weights are stored already quantized (DequantizeLinear only), so every QuantizeLinear
    is an activation.
    """
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in qdq_model.graph.initializer}
    consts = {}
    for n in qdq_model.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    consts[n.output[0]] = numpy_helper.to_array(a.t)
    out = {}
    for n in qdq_model.graph.node:
        if n.op_type != "QuantizeLinear" or len(n.input) < 3:
            continue
        scale = inits.get(n.input[1], consts.get(n.input[1]))
        zp = inits.get(n.input[2], consts.get(n.input[2]))
        if scale is not None and zp is not None:
            out[n.input[0]] = (scale, zp)
    return out


def fake_quant(x: np.ndarray, scale: np.ndarray, zp: np.ndarray) -> np.ndarray:
    """QuantizeLinear then DequantizeLinear, per tensor, as ONNX defines them."""
    info = np.iinfo(zp.dtype)
    q = np.clip(np.rint(x / scale) + zp.astype(np.int32), info.min, info.max)
    return ((q - zp.astype(np.int32)) * scale).astype(np.float32)


def analyse(float_model: Path, qdq_model: Path, batches: Sequence[np.ndarray], *,
            artifact: str = "", reporter: Reporter | None = None) -> SensitivityReport:
    """Per-node SQNR of ``qdq_model`` against ``float_model`` on ``batches`` (NCHW float32).

    ``local_sqnr_db`` of a node is the worst SQNR among its quantized activation *inputs*,
    each quantized alone from the fp32 model's values with the QDQ model's scale and zero
    point: what keeping that node in fp32 would spare (an excluded node is fed the float
    tensors, see ``ort_cpu.keep_in_float``). (ORT's own ``qdq_err`` compares the
    tensors around a QDQ pair inside the int8 model, where ReLUs folded into the
    quantization make a ReLU's input look like 3 dB of "noise".) ``sqnr_db`` is ORT's
    ``xmodel_err`` at the node's output: fp32 model vs int8 model, accumulated error.
    """
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization.qdq_loss_debug import (
        create_activation_matching,
        modify_model_output_intermediate_tensors,
    )

    from workbench.backends.base import copy_onnx
    from workbench.backends.ort_cpu.build import quiet_ort

    rep = reporter or Reporter()
    if not batches:
        raise BadInput("sensitivity needs at least one image")
    t0 = time.perf_counter()
    fmodel = onnx.load(str(float_model), load_external_data=False)
    params = quant_params(onnx.load(str(qdq_model)))
    if not params:
        raise BadInput(f"{qdq_model}: no QuantizeLinear nodes; is this a QDQ int8 model?")
    kinds = classify_nodes(fmodel)
    local = _Accumulator()
    cross = _Accumulator()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every tensor
    so.log_severity_level = 3
    total = sum(x.shape[0] for x in batches)
    with tempfile.TemporaryDirectory(prefix="hrnet-wb-sens-") as tmp, quiet_ort():
        aug_f, aug_q = Path(tmp) / "float.onnx", Path(tmp) / "qdq.onnx"
        # ORT writes '<input>-inferred.onnx' beside its input: give it private copies, so
        # nothing lands in the shared cache or the published artifact folder
        src_f, src_q = Path(tmp) / "float-src.onnx", Path(tmp) / "qdq-src.onnx"
        copy_onnx(float_model, src_f)
        copy_onnx(qdq_model, src_q)
        modify_model_output_intermediate_tensors(str(src_f), str(aug_f))
        modify_model_output_intermediate_tensors(str(src_q), str(aug_q))
        sf = ort.InferenceSession(str(aug_f), so, providers=["CPUExecutionProvider"])
        sq = ort.InferenceSession(str(aug_q), so, providers=["CPUExecutionProvider"])
        in_f, in_q = sf.get_inputs()[0].name, sq.get_inputs()[0].name
        suffix = "_ReshapedSavedOutput"
        names_f = [o.name for o in sf.get_outputs()]
        names_q = [o.name for o in sq.get_outputs()]
        seen = 0
        for b in batches:
            rep.check_cancelled()
            fo = {n[: -len(suffix)]: [v] for n, v in zip(names_f, sf.run(None, {in_f: b}), strict=True)
                  if n.endswith(suffix)}
            for tensor, (scale, zp) in params.items():
                if tensor in fo:
                    x = fo[tensor][0]
                    local.add(tensor, x, fake_quant(x, scale, zp))
            qo = {n[: -len(suffix)]: [v] for n, v in zip(names_q, sq.run(None, {in_q: b}), strict=True)
                  if n.endswith(suffix)}
            for tensor, m in create_activation_matching(qo, fo).items():
                if m.get("float") and m.get("post_qdq") is not None:
                    cross.add(tensor, m["float"][0], m["post_qdq"][0])
            seen += b.shape[0]
            rep.progress(seen, total, "images")
            del fo, qo
    nodes = []
    for node in fmodel.graph.node:
        ins = [i for i in node.input if i in local.signal]
        if not ins:
            continue
        worst = min(ins, key=local.sqnr)
        out = node.output[0] if node.output else ""
        nodes.append(NodeSensitivity(
            node=node.name, op_type=node.op_type, tensor=worst, kind=kinds.get(node.name, "other"),
            local_sqnr_db=round(local.sqnr(worst), 3),
            sqnr_db=round(cross.sqnr(out), 3) if out in cross.signal else None))
    if not nodes:
        raise BadInput(f"{qdq_model}: no quantized activations matched {float_model}")
    return SensitivityReport(artifact, seen, nodes, time.perf_counter() - t0)


def artifact_sensitivity(artifact_dir: Path, meta: dict[str, Any], *, images: int = 8,
                         preprocessor: Any = None, home: Any = None, batch_size: int = 4,
                         reporter: Reporter | None = None) -> SensitivityReport:
    """Sensitivity of a built int8 artifact on (up to ``images`` of) its calibration images."""
    from workbench.backends.ort_cpu.build import prepare_model
    from workbench.build.calibration import iter_batches
    from workbench.build.int8 import prepared_path
    from workbench.home import resolve_home

    if meta.get("dtype") != "int8":
        raise BadInput(f"{meta.get('name')}: sensitivity compares int8 with fp32; this is {meta.get('dtype')}")
    qdq = artifact_dir / str(meta.get("qdq_onnx") or meta["file"])
    if qdq.suffix != ".onnx" or not qdq.is_file():
        raise BadInput(f"{artifact_dir}: no QDQ ONNX file in this artifact")
    src = Path(meta.get("onnx_source", ""))
    hm = resolve_home(home) if not hasattr(home, "cache") else home
    prepared = prepared_path(hm, meta["onnx_sha256"])
    if not prepared.is_file():
        if not src.is_file():
            raise BadInput(f"{src}: the fp32 ONNX this artifact was built from is gone; rebuild it")
        prepare_model(src, prepared, reporter)
    samples = load_manifest(artifact_dir / (meta.get("calibration") or {}).get("manifest_file",
                                                                          "calibration_manifest.tsv"))
    h, w = meta["input_size"]
    loader = preprocessor if preprocessor is not None else preprocessor_from_meta(meta)
    batches = [b for _, b in iter_batches(samples[:images], loader, batch_size, reporter)]
    return analyse(prepared, qdq, batches, artifact=meta["name"], reporter=reporter)


def run_sensitivity(artifact: str, home: Any, *, images: int = 8,
                    reporter: Reporter | None = None) -> SensitivityReport:
    """``hrnet-wb sensitivity``: find the artifact (name, key prefix or folder), rank its
    nodes, and record the ranking as a run."""
    import json

    from workbench.build.resolve import resolve_artifact
    from workbench.store import Store

    t = resolve_artifact(artifact, home)
    if not t.meta or t.path is None:
        raise BadInput(f"{artifact}: a bare model file; sensitivity needs a built int8 artifact (its folder or name)")
    d, meta = t.path.parent, t.meta
    rep = reporter or Reporter()
    with Store(home.db).run(f"sensitivity {meta.get('name', artifact)}",
                            profile_json=json.dumps({"sensitivity": {"artifact": str(d),
                                                                     "images": images}}),
                            cancelled=lambda: rep.cancelled) as run:
        report = artifact_sensitivity(d, meta, images=images, home=home, reporter=rep)
        run.summary = {"artifact": report.artifact, "images": report.images,
                       "worst": [n.node for n in report.ranked()[:10]]}
    return report


def preprocessor_from_meta(meta: dict[str, Any]) -> Any:
    """The preprocessing an artifact was calibrated with (so its ranges fit the inputs)."""
    from workbench.data.preprocess import resolve_preprocessor

    d = (meta.get("calibration") or {}).get("preprocess") or meta.get("preprocess")
    return resolve_preprocessor(source="timm", input_size=tuple(meta["input_size"]),
                                recorded=d if isinstance(d, dict) else None)


@dataclass(frozen=True)
class ManifestSample:
    path: Path
    label: int | None
    id: str


def load_manifest(path: Path) -> list[ManifestSample]:
    """Read an artifact's ``calibration_manifest.tsv`` (id, label, path per line)."""
    if not path.is_file():
        raise BadInput(f"{path}: calibration manifest not found")
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) not in (3, 4):  # id, label, path (+ sha256 since the content-hash manifests)
            continue
        sid, label, p = parts[:3]
        out.append(ManifestSample(Path(p), int(label) if label not in ("", "None") else None, sid))
    return out
