"""fp16 ONNX, for GPUs only.

On this x86 CPU ONNX Runtime has no fp16 conv kernels and runs an fp16 graph 1.46×
*slower* than fp32 (NOTES §5), so fp16 is built for ``ort-gpu`` (CUDA EP) and never
offered for ``ort-cpu``. The converter is the one ONNX Runtime ships
(``onnxruntime.transformers.float16``), so no extra dependency is needed.

Inputs and outputs stay float32 (``keep_io_types``): every predictor feeds float32 NCHW
and the casts at the edges cost nothing next to the network.
"""

from __future__ import annotations

from pathlib import Path


def convert_fp16(onnx_path: Path, out: Path) -> dict[str, object]:
    """Write an fp16 copy of ``onnx_path``; returns the settings recorded in meta."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(onnx_path))
    half = convert_float_to_float16(model, keep_io_types=True)
    onnx.save(half, str(out))
    return {"converter": "onnxruntime.transformers.float16", "keep_io_types": True}
