"""The OpenVINO CPU runner for one stream (bench's N streams share one model: streams.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import BackendUnavailable
from workbench.runtime import resolve_threads

if TYPE_CHECKING:  # pragma: no cover
    from workbench.runtime_settings import RuntimeSettings


class OpenVinoPredictor:
    """OpenVINO CPU. Reads ONNX (fp32 or ORT's QDQ int8) or IR directly."""

    backend = "openvino-cpu"

    def __init__(self, path: str | Path, threads: int = 0, hint: str = "LATENCY",
                 precision: str | None = None) -> None:
        try:
            import openvino as ov
        except ImportError as exc:  # pragma: no cover - dependency is declared
            raise BackendUnavailable(f"openvino is not installed: {exc}") from None
        from workbench.backends.openvino_cpu.settings import ov_precision_hint
        from workbench.runtime_settings import artifact_dtype

        if precision is None:  # from the artifact's dtype, never the plugin's default
            precision = ov_precision_hint(artifact_dtype(path))
        if precision == "bf16":
            from workbench.hardware import require_bf16

            require_bf16("run a bf16 OpenVINO build")
        self.precision = precision
        core = ov.Core()
        config: dict[str, Any] = {
            "INFERENCE_NUM_THREADS": resolve_threads(threads),
            "PERFORMANCE_HINT": hint,
            # Explicit: on a bf16-capable CPU the plugin's default is bf16, not f32.
            "INFERENCE_PRECISION_HINT": precision,
        }
        self._core, self._config = core, config
        self.cpu_threads = int(config["INFERENCE_NUM_THREADS"])  # see OrtPredictor.cpu_threads
        self._model = core.read_model(str(path))
        self.compiled = core.compile_model(self._model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self._static: dict[tuple[int, ...], Any] = {}
        self._last_compiled = self.compiled

    def runtime_settings(self) -> RuntimeSettings:
        """Read back from the compiled model that served the last batch (a static one
        when the model's batch is dynamic)."""
        from workbench.backends.openvino_cpu.settings import openvino_settings

        return openvino_settings(self._last_compiled)

    def _request_for(self, shape: tuple[int, ...]) -> Any:
        """A request compiled for this exact input shape when the model's batch is dynamic.

        OpenVINO's CPU plugin runs static shapes faster (NOTES §7), so each batch shape seen
        gets its own compiled model (a few at most:
        the batch size and a last partial batch); beyond four, the dynamic one serves.
        """
        if not self._model.inputs[0].get_partial_shape().is_dynamic:
            return self.request
        req = self._static.get(shape)
        if req is None and len(self._static) < 4:
            m = self._model.clone()
            m.reshape({m.inputs[0]: list(shape)})
            req = self._core.compile_model(m, "CPU", self._config).create_infer_request()
            self._static[shape] = req
        req = req or self.request
        self._last_compiled = req.get_compiled_model()
        return req

    def predict(self, batch: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(batch, dtype=np.float32)
        res = self._request_for(tuple(x.shape)).infer({0: x})
        return np.asarray(next(iter(res.values())), dtype=np.float32)
