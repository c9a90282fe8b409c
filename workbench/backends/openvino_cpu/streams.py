"""OpenVINO streams the way benchmark_app runs them: one compiled model with ``NUM_STREAMS``
= N and N infer requests, rather than N separately compiled copies.

The plugin then splits the thread budget between its own stream executors and shares the
weights between them, which is what a deployment would do; each request is driven from its
own Python thread (``infer`` releases the GIL), exactly like the other backends' streams.

The model is compiled at the static input shape of the grid point (as evaluation does): the
CPU plugin runs a static batch faster than a dynamic one, and a bench that measured the
dynamic model would not be measuring what eval runs. The precision hint comes from the
artifact's dtype, never from the plugin's default.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import BackendUnavailable, BadInput
from workbench.runtime import resolve_threads

if TYPE_CHECKING:  # pragma: no cover
    from workbench.runtime_settings import RuntimeSettings


class OpenVinoRequest:
    """One infer request of a shared compiled model: a Predictor for one stream."""

    backend = "openvino-cpu"

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled  # keeps the compiled model alive as long as a request is
        self.request = compiled.create_infer_request()
        shape = compiled.inputs[0].get_partial_shape()
        #: the static batch the model was compiled for (0: dynamic)
        self.batch = int(shape[0].get_length()) if shape.rank.is_static and shape[0].is_static else 0

    def predict(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        n = len(x)
        if 0 < n < self.batch:  # an eval's last, partial batch: pad it, drop the padding's rows
            x = np.concatenate([x, np.zeros((self.batch - n, *x.shape[1:]), dtype=np.float32)])
        res = self.request.infer({0: x})
        return np.asarray(next(iter(res.values())), dtype=np.float32)[:n]

    def runtime_settings(self) -> RuntimeSettings:
        from workbench.backends.openvino_cpu.settings import openvino_settings

        return openvino_settings(self.compiled)


def openvino_streams(path: str | Path, streams: int, threads: int = 0,
                     shape: tuple[int, ...] | None = None,
                     precision: str | None = None) -> list[OpenVinoRequest]:
    """Compile ``path`` once for ``streams`` streams on ``threads`` threads in total (0 =
    physical cores) and return one request per stream. One stream uses the LATENCY hint,
    several the THROUGHPUT hint, both with the explicit stream and thread counts.

    ``shape`` (N, C, H, W) reshapes a dynamic model to that static shape first;
    ``precision`` defaults to the hint for the artifact's dtype (f32 for fp32 and int8).
    """
    try:
        import openvino as ov
    except ImportError as exc:  # pragma: no cover - dependency is declared
        raise BackendUnavailable(f"openvino is not installed: {exc}") from None
    from workbench.backends.openvino_cpu.settings import ov_precision_hint
    from workbench.runtime_settings import artifact_dtype

    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: artifact file not found")
    if streams < 1:
        raise BadInput(f"streams {streams}: expected >= 1")
    if precision is None:
        precision = ov_precision_hint(artifact_dtype(path))
    if precision == "bf16":
        from workbench.hardware import require_bf16

        require_bf16("run a bf16 OpenVINO build")
    core = ov.Core()
    model = core.read_model(str(path))
    if shape is not None and model.inputs[0].get_partial_shape().is_dynamic:
        model.reshape({model.inputs[0]: list(shape)})
    compiled = core.compile_model(model, "CPU", {
        "NUM_STREAMS": int(streams),
        "INFERENCE_NUM_THREADS": resolve_threads(threads),
        "PERFORMANCE_HINT": "LATENCY" if streams == 1 else "THROUGHPUT",
        # Explicit: on a bf16-capable CPU the plugin's default is bf16, not f32.
        "INFERENCE_PRECISION_HINT": precision,
    })
    return [OpenVinoRequest(compiled) for _ in range(streams)]
