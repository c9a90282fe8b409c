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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import BadInput, CheckFailed
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

    from workbench.build.ort_cpu import quiet_ort

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
        modify_model_output_intermediate_tensors(str(float_model), str(aug_f))
        modify_model_output_intermediate_tensors(str(qdq_model), str(aug_q))
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
    from workbench.build.calibration import iter_batches
    from workbench.build.int8 import prepared_path
    from workbench.build.ort_cpu import prepare_model
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


def preprocessor_from_meta(meta: dict[str, Any]) -> Any:
    """The preprocessing an artifact was calibrated with (so its ranges fit the inputs)."""
    from workbench.build import default_preprocessor

    h, w = meta["input_size"]
    d = (meta.get("calibration") or {}).get("preprocess") or meta.get("preprocess")
    if isinstance(d, dict) and "resize_mode" in d:
        from workbench.data.preprocess import PreprocessConfig, Preprocessor

        return Preprocessor(PreprocessConfig.from_dict(d))
    return default_preprocessor((h, w))


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


# -- accuracy budget ----------------------------------------------------------------------


@dataclass
class BudgetStep:
    excluded: int
    agreement: float
    artifact: str


@dataclass
class BudgetResult:
    """What the accuracy-budget search did and what it cost."""

    target_agreement: float
    baseline_agreement: float
    final_agreement: float
    excluded_nodes: list[str]
    steps: list[BudgetStep]
    images: int
    fp32_ms: float
    int8_ms: float
    final_ms: float
    artifact: Any = None  # the chosen Artifact
    sensitivity: SensitivityReport | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target_agreement": self.target_agreement, "baseline_agreement": self.baseline_agreement,
            "final_agreement": self.final_agreement, "excluded_nodes": self.excluded_nodes,
            "steps": [asdict(s) for s in self.steps], "images": self.images,
            "latency_bs1_ms": {"fp32": self.fp32_ms, "int8": self.int8_ms, "final": self.final_ms},
            "speed_cost": (self.final_ms / self.int8_ms - 1) if self.int8_ms else None,
            "artifact": None if self.artifact is None else self.artifact.name,
            "notes": self.notes,
        }


def top1(path: Path, backend: str, x: np.ndarray, threads: int = 0, batch: int = 16) -> np.ndarray:
    from workbench.runtime import open_predictor

    p = open_predictor(path, backend, threads)
    return np.concatenate([p.predict(x[i:i + batch]).argmax(1) for i in range(0, len(x), batch)])


def latency_ms(path: Path, backend: str, x1: np.ndarray, threads: int = 0, runs: int = 15) -> float:
    """bs1 median latency; a quick figure for comparing builds of one model, not a benchmark."""
    from workbench.runtime import open_predictor

    p = open_predictor(path, backend, threads)
    for _ in range(3):
        p.predict(x1)
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        p.predict(x1)
        ts.append((time.perf_counter() - t) * 1000)
    return float(np.median(ts))


def search_exclusions(build: Any, fp32_path: Path, agreement_x: np.ndarray, target: float,
                      sensitivity: SensitivityReport, *, backend: str, threads: int = 0,
                      max_steps: int = 8, reporter: Reporter | None = None) -> BudgetResult:
    """Exclude nodes (in ``sensitivity.exclusion_order()``) until top-1 agreement ≥ ``target``.

    ``build(exclude: tuple[str, ...]) -> Artifact`` rebuilds from cached ranges (a quantize
    call, not a calibration pass). Exclusion counts grow geometrically (1, 2, 4, ...), and
    the last step excludes every candidate, so the search costs at most ``max_steps`` builds.
    Raises :class:`CheckFailed` if even the last step misses the target.
    """
    rep = reporter or Reporter()
    ref = top1(fp32_path, "ort-cpu", agreement_x, threads)
    order = sensitivity.exclusion_order()
    base = build(())
    base_pred = top1(Path(base.path), backend, agreement_x, threads)
    base_agree = float((base_pred == ref).mean())
    steps = [BudgetStep(0, base_agree, base.name)]
    rep.log(f"accuracy budget: int8 agrees with fp32 on {base_agree:.2%} of {len(ref)} images "
            f"(target {target:.2%})")
    chosen, chosen_agree, excluded = base, base_agree, []
    counts: list[int] = []
    k = 1
    while k < len(order) and len(counts) < max_steps - 1:
        counts.append(k)
        k *= 2
    counts.append(len(order))
    if base_agree < target:
        for k in counts:
            rep.check_cancelled()
            art = build(tuple(order[:k]))
            agree = float((top1(Path(art.path), backend, agreement_x, threads) == ref).mean())
            steps.append(BudgetStep(k, agree, art.name))
            rep.log(f"accuracy budget: {k} node(s) in fp32 -> agreement {agree:.2%}")
            chosen, chosen_agree, excluded = art, agree, order[:k]
            if agree >= target:
                break
    x1 = agreement_x[:1]
    fp32_ms = latency_ms(fp32_path, "ort-cpu", x1, threads)
    int8_ms = latency_ms(Path(base.path), backend, x1, threads)
    final_ms = int8_ms if chosen is base else latency_ms(Path(chosen.path), backend, x1, threads)
    res = BudgetResult(target, base_agree, chosen_agree, list(excluded), steps, len(ref),
                       round(fp32_ms, 3), round(int8_ms, 3), round(final_ms, 3), chosen, sensitivity)
    if chosen_agree < target:
        raise CheckFailed(f"accuracy budget: best agreement {chosen_agree:.2%} with all "
                          f"{len(order)} candidate nodes in fp32 is below the target {target:.2%}")
    return res


def build_with_accuracy_budget(onnx_path: Path, recipe: Any, *, agreement_samples: Sequence[Any],
                               min_agreement: float, sensitivity_images: int = 8,
                               threads: int = 0, reporter: Reporter | None = None,
                               **build_kwargs: Any) -> BudgetResult:
    """Build ``recipe`` (int8), then keep nodes in fp32 until top-1 agreement with fp32 on
    ``agreement_samples`` reaches ``min_agreement`` (a fraction, e.g. 0.99).

    ``agreement_samples`` should be held out from calibration; ``build_kwargs`` are
    :func:`workbench.build.build_artifact`'s keyword arguments. Every intermediate build is a
    normal cached artifact, so a repeated search costs only the agreement checks.
    """
    import dataclasses

    from workbench.build import build_artifact, default_preprocessor
    from workbench.build.calibration import iter_batches

    rep = reporter or Reporter()
    if recipe.dtype != "int8":
        raise BadInput("--accuracy-budget applies to int8 builds")
    if not 0 < min_agreement <= 1:
        raise BadInput(f"target agreement {min_agreement}: must be in (0, 1]")
    if recipe.backend == "tensorrt":
        raise BadInput("the accuracy-budget search measures agreement on this CPU; "
                       "tensorrt artifacts only run on a GPU")

    def build(exclude: tuple[str, ...]) -> Any:
        r = dataclasses.replace(recipe, exclude_nodes=exclude)
        return build_artifact(onnx_path, r, reporter=rep, **build_kwargs)

    base = build(())
    pre = build_kwargs.get("preprocessor") or default_preprocessor(tuple(build_kwargs["input_size"]))
    x = np.concatenate([b for _, b in iter_batches(list(agreement_samples), pre, 16, rep)])
    if len(x) == 0:
        raise BadInput("accuracy budget: none of the agreement images could be decoded")
    sens = artifact_sensitivity(base.dir, base.meta, images=sensitivity_images,
                                preprocessor=build_kwargs.get("preprocessor"),
                                home=build_kwargs.get("home"), reporter=rep)
    return search_exclusions(build, Path(onnx_path), x, min_agreement, sens,
                             backend=recipe.backend, threads=threads, reporter=rep)
