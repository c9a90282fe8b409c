"""ORT CPU runs the shared ONNX Runtime runner (:mod:`workbench.backends.ort_session`)."""

from workbench.backends.ort_session import OrtPredictor

__all__ = ["OrtPredictor"]
