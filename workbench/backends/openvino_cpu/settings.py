"""What OpenVINO ran: the precision hint asked per artifact dtype, and the settings a
compiled model reports back (its runtime model's per-layer ``runtimePrecision``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from workbench.errors import BadInput
from workbench.runtime_settings import RuntimeSettings

#: artifact dtype -> OpenVINO ``INFERENCE_PRECISION_HINT``. int8 QDQ models run their
#: quantized ops in u8/i8 whatever the hint; the hint decides the rest, kept f32 like ORT.
OV_PRECISION_HINT: dict[str, str] = {"fp32": "f32", "int8": "f32", "bf16": "bf16"}

_OV_TYPE_NAMES = {"float32": "f32", "f32": "f32", "bfloat16": "bf16", "bf16": "bf16",
                  "float16": "f16", "f16": "f16", "u8": "u8", "i8": "i8"}


def ov_precision_hint(dtype: str) -> str:
    """The explicit hint for an artifact of ``dtype`` (never the plugin's default)."""
    try:
        return OV_PRECISION_HINT[dtype or "fp32"]
    except KeyError:
        raise BadInput(f"OpenVINO CPU runs fp32, bf16 or int8 artifacts, not {dtype!r}") from None


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
        shared_streams=True,
    )


def _as_int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None
