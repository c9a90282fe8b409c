"""TensorRT artifacts: built here, run only where a GPU and ORT's TensorRT EP exist.

TensorRT's explicit-quantization path accepts only **symmetric** int8 QDQ (s8 activations
and weights, zero point 0, no reduce_range). That model is a separate artifact from the
CPU u8s8 one: it runs about 2× slower than fp32 on this CPU, and the CPU one is rejected
by TensorRT. Both share one calibration pass (the ranges cache).

fp16 for TensorRT is the fp32 ONNX plus ``trt_fp16_enable``: TensorRT picks fp16 kernels
per layer itself, which keeps precision where a blanket fp16 graph would lose it.
The EP options needed at load time are recorded in the artifact's ``meta.json`` under
``provider_options``.
"""

from __future__ import annotations

from typing import Any


def provider_options(dtype: str) -> dict[str, Any]:
    """The TensorRT EP options that make an artifact run at its dtype."""
    opts: dict[str, Any] = {"trt_fp16_enable": dtype in ("fp16", "int8")}
    if dtype == "int8":
        opts["trt_int8_enable"] = True
    return opts
