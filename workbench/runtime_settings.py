"""Say what ran: the precision asked of a runtime, and the settings it reports back.

Each backend reads its runtime back in its own package
(``workbench.backends.<name>``); this module holds the record they fill in and how a grid
point's predictors are summed. A build's dtype is what we *asked* for. What a runtime *ran* can differ (OpenVINO's CPU
plugin defaults to bf16 on a bf16-capable CPU), so every bench row and eval records the
effective settings read back from the compiled model or the ORT session: inference
precision, the precision the convolutions actually run in, streams, threads and hint.
The roofline then divides by the limit of that precision, and tests pick tolerances from it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def artifact_dtype(path: str | Path) -> str:
    """The dtype recorded in the artifact's meta.json (when ``path`` is its file), else
    what the file itself says (a QDQ graph is int8), else fp32."""
    from workbench.records import ArtifactMeta

    p = Path(path)
    meta = ArtifactMeta.of_file(p)
    if meta is not None and meta.dtype:
        return meta.dtype
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
    #: the streams are infer requests of one compiled model (OpenVINO), so its threads and
    #: streams are already the whole grid point's; else one session per stream
    shared_streams: bool = False

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
        del d["shared_streams"]
        d["limit_precision"] = self.limit_precision
        return d


def settings_of(predictors: Any) -> RuntimeSettings | None:
    """The settings of a grid point's predictors (the first one's, with the stream count)."""
    preds = list(predictors)
    if not preds:
        return None
    fn = getattr(preds[0], "runtime_settings", None)
    if fn is None:
        return None
    s: RuntimeSettings = fn()
    if not s.shared_streams and len(preds) > 1:  # one session per stream
        from dataclasses import replace

        s = replace(s, streams=len(preds), threads=(s.threads or 0) * len(preds))
    return s


