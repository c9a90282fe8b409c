"""Say what ran: the precision asked of a runtime, and the settings it reports back.

A build's dtype is what we *asked* for. What a runtime *ran* can differ (OpenVINO's CPU
plugin defaults to bf16 on a bf16-capable CPU), so every bench row and eval records the
effective settings read back from the compiled model or the ORT session: inference
precision, the precision the convolutions actually run in, streams, threads and hint.
The roofline then divides by the limit of that precision, and tests pick tolerances from it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import BadInput

#: artifact dtype -> OpenVINO ``INFERENCE_PRECISION_HINT``. int8 QDQ models run their
#: quantized ops in u8/i8 whatever the hint; the hint decides the rest, kept f32 like ORT.
OV_PRECISION_HINT: dict[str, str] = {"fp32": "f32", "int8": "f32", "bf16": "bf16"}

#: The precisions a limit is measured for.
LIMIT_PRECISIONS = ("fp32", "bf16", "int8")

_OV_TYPE_NAMES = {"float32": "f32", "f32": "f32", "bfloat16": "bf16", "bf16": "bf16",
                  "float16": "f16", "f16": "f16", "u8": "u8", "i8": "i8"}


def ov_precision_hint(dtype: str) -> str:
    """The explicit hint for an artifact of ``dtype`` (never the plugin's default)."""
    try:
        return OV_PRECISION_HINT[dtype or "fp32"]
    except KeyError:
        raise BadInput(f"OpenVINO CPU runs fp32, bf16 or int8 artifacts, not {dtype!r}") from None


def artifact_dtype(path: str | Path) -> str:
    """The dtype recorded in the artifact's meta.json (when ``path`` is its file), else
    what the file itself says (a QDQ graph is int8), else fp32."""
    p = Path(path)
    meta_file = p.parent / "meta.json"
    if meta_file.is_file():
        try:
            meta = json.loads(meta_file.read_text())
            if meta.get("file") == p.name and meta.get("dtype"):
                return str(meta["dtype"])
        except (OSError, ValueError):
            pass
    if p.suffix.lower() == ".onnx":
        try:
            import onnx

            g = onnx.load(str(p), load_external_data=False).graph
        except Exception:
            return "fp32"
        if any(n.op_type in ("QuantizeLinear", "DequantizeLinear", "QLinearConv") for n in g.node):
            return "int8"
        if g.input and g.input[0].type.tensor_type.elem_type == 10:  # FLOAT16
            return "fp16"
    return "fp32"


@dataclass(frozen=True)
class RuntimeSettings:
    """Effective settings of one opened model, as its runtime reports them."""

    runtime: str  # torch | onnxruntime | openvino
    version: str
    inference_precision: str  # the runtime's own word: f32, bf16 (OpenVINO's hint read back)
    compute_precision: str  # what the heavy ops run in: f32, bf16, f16, int8
    threads: int | None
    streams: int | None
    hint: str  # OpenVINO PERFORMANCE_HINT, ORT execution mode, ...
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def limit_precision(self) -> str:
        """Which machine limit applies: fp32, bf16 or int8 (and fp16, tf32 on a GPU)."""
        return {"int8": "int8", "bf16": "bf16", "f16": "fp16", "tf32": "tf32"}.get(
            self.compute_precision, "fp32")

    def label(self) -> str:
        return (f"{self.runtime} {self.compute_precision}"
                f" ({self.hint}, {self.streams or 1} stream(s), {self.threads} thread(s))")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["limit_precision"] = self.limit_precision
        return d


def _ov_str(value: Any) -> str:
    s = str(getattr(value, "name", value))
    s = s.replace("<Type: '", "").replace("'>", "")
    return _OV_TYPE_NAMES.get(s.lower(), s.lower())


def openvino_settings(compiled: Any) -> RuntimeSettings:
    """Read back a compiled model's properties and the precision each convolution,
    fully-connected and matmul layer runs in (its runtime model's ``runtimePrecision``)."""
    import openvino as ov

    def prop(name: str) -> Any:
        try:
            return compiled.get_property(name)
        except Exception:
            return None

    layers: Counter[str] = Counter()
    try:
        for op in compiled.get_runtime_model().get_ordered_ops():
            rt = op.get_rt_info()
            if "layerType" not in rt or "runtimePrecision" not in rt:
                continue
            if rt["layerType"].astype(str) in ("Convolution", "FullyConnected", "MatMul",
                                               "GroupConvolution"):
                layers[_ov_str(rt["runtimePrecision"].astype(str))] += 1
    except Exception:  # an IR without a runtime model to read: fall back to the hint
        pass
    hint_prec = _ov_str(prop("INFERENCE_PRECISION_HINT"))
    compute = hint_prec
    if layers:
        top, _n = layers.most_common(1)[0]
        compute = "int8" if top in ("u8", "i8") else top
    return RuntimeSettings(
        runtime="openvino", version=str(ov.__version__).split("-")[0],
        inference_precision=hint_prec, compute_precision=compute,
        threads=_as_int(prop("INFERENCE_NUM_THREADS")), streams=_as_int(prop("NUM_STREAMS")),
        hint=_ov_str(prop("PERFORMANCE_HINT")).upper(),
        details={"layer_precisions": dict(layers),
                 "execution_mode": _ov_str(prop("EXECUTION_MODE_HINT")).upper()},
    )


def _ort_entry(so: Any, key: str) -> str:
    """A session config entry, "" when it was never set (ORT raises for an unset key)."""
    try:
        return str(so.get_session_config_entry(key))
    except RuntimeError:
        return ""


def ort_settings(session: Any, quantized: bool) -> RuntimeSettings:
    """An ORT session's options as the session holds them. ORT's CPU provider has no
    precision knob: it runs the graph's types, so a QDQ graph is int8 and the rest f32."""
    import onnxruntime as ort

    so = session.get_session_options()
    providers = list(session.get_providers())
    fp16 = any("float16" in i.type for i in session.get_inputs())
    compute = "int8" if quantized else "f16" if fp16 else "f32"
    return RuntimeSettings(
        runtime="onnxruntime", version=str(ort.__version__),
        inference_precision="f16" if fp16 else "f32", compute_precision=compute,
        threads=int(so.intra_op_num_threads), streams=1,
        hint=str(so.execution_mode).rsplit(".", 1)[-1],
        details={"providers": providers, "inter_op_threads": int(so.inter_op_num_threads),
                 "graph_optimization": str(so.graph_optimization_level).rsplit(".", 1)[-1],
                 "spin_stop_after_run": _ort_entry(so, "session.force_spinning_stop") == "1"},
    )


def torch_settings() -> RuntimeSettings:
    import torch

    return RuntimeSettings(runtime="torch", version=str(torch.__version__).split("+")[0],
                           inference_precision="f32", compute_precision="f32",
                           threads=int(torch.get_num_threads()), streams=1, hint="eager",
                           details={"inference_mode": True})


def effective_settings(predictor: Any) -> dict[str, Any] | None:
    """One predictor's read-back settings as a record (None for a runtime that has none)."""
    fn = getattr(predictor, "runtime_settings", None)
    if fn is None:
        return None
    s: RuntimeSettings = fn()
    return s.as_dict()


def settings_of(predictors: Any) -> RuntimeSettings | None:
    """The settings of a grid point's predictors (the first one's, with the stream count)."""
    preds = list(predictors)
    if not preds:
        return None
    fn = getattr(preds[0], "runtime_settings", None)
    if fn is None:
        return None
    s: RuntimeSettings = fn()
    if s.runtime != "openvino" and len(preds) > 1:  # one session per stream
        from dataclasses import replace

        s = replace(s, streams=len(preds), threads=(s.threads or 0) * len(preds))
    return s


def _as_int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None
