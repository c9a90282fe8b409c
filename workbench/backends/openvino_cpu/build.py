"""OpenVINO CPU builds: the ONNX (fp32, or ORT's QDQ u8s8 int8) converted to OpenVINO IR.

OpenVINO's ONNX frontend turns each QuantizeLinear/DequantizeLinear pair into a
FakeQuantize, and its CPU plugin then runs every quantized conv in u8, faster than ORT's
own int8 kernels on the CPUs measured (NOTES §5).
So the OpenVINO int8 artifact reuses the ORT QDQ recipe and calibration; NNCF would be a
second quantizer to keep in step and is not needed for that speed.

IR is saved with ``compress_to_fp16=False``: the default would halve the fp32 weights'
precision on disk, which is a different model than the one we measured.
"""

from __future__ import annotations

from pathlib import Path

from workbench.errors import BackendUnavailable, BadInput


def convert_to_ir(onnx_path: Path, out_xml: Path) -> Path:
    """Convert ``onnx_path`` to ``out_xml`` (+ ``.bin``). Returns the .xml path."""
    try:
        import openvino as ov
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise BackendUnavailable(f"openvino is not installed: {exc}") from None
    try:
        model = ov.convert_model(str(onnx_path))
    except Exception as exc:
        raise BadInput(f"{onnx_path}: OpenVINO could not read this ONNX: {exc}") from None
    ov.save_model(model, str(out_xml), compress_to_fp16=False)
    return out_xml


def ir_files(xml: Path) -> list[Path]:
    return [xml, xml.with_suffix(".bin")]
