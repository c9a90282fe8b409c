"""OpenVINO streams the way benchmark_app runs them: one compiled model with ``NUM_STREAMS``
= N and N infer requests, rather than N separately compiled copies.

The plugin then splits the thread budget between its own stream executors and shares the
weights between them, which is what a deployment would do; each request is driven from its
own Python thread (``infer`` releases the GIL), exactly like the other backends' streams.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import BackendUnavailable, BadInput
from workbench.runtime import resolve_threads


class OpenVinoRequest:
    """One infer request of a shared compiled model: a Predictor for one stream."""

    backend = "openvino-cpu"

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled  # keeps the compiled model alive as long as a request is
        self.request = compiled.create_infer_request()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        res = self.request.infer({0: np.ascontiguousarray(batch, dtype=np.float32)})
        return np.asarray(next(iter(res.values())), dtype=np.float32)


def openvino_streams(path: str | Path, streams: int, threads: int = 0) -> list[OpenVinoRequest]:
    """Compile ``path`` once for ``streams`` streams on ``threads`` threads in total (0 =
    physical cores) and return one request per stream. One stream uses the LATENCY hint,
    several the THROUGHPUT hint, both with the explicit stream and thread counts."""
    try:
        import openvino as ov
    except ImportError as exc:  # pragma: no cover - dependency is declared
        raise BackendUnavailable(f"openvino is not installed: {exc}") from None
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: artifact file not found")
    if streams < 1:
        raise BadInput(f"streams {streams}: expected >= 1")
    compiled = ov.Core().compile_model(str(path), "CPU", {
        "NUM_STREAMS": int(streams),
        "INFERENCE_NUM_THREADS": resolve_threads(threads),
        "PERFORMANCE_HINT": "LATENCY" if streams == 1 else "THROUGHPUT",
        # Explicit: on a bf16-capable CPU the plugin's default is bf16, not f32.
        "INFERENCE_PRECISION_HINT": "f32",
    })
    return [OpenVinoRequest(compiled) for _ in range(streams)]
