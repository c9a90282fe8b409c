"""The ONNX Runtime runner (CPU, and the CUDA / TensorRT providers on a GPU), shared by
every ORT backend, and the settings an ORT session reports back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import BackendUnavailable
from workbench.runtime import resolve_threads
from workbench.runtime_settings import RuntimeSettings


class OrtPredictor:
    """ONNX Runtime. Graph optimisations (incl. the NCHWc layout pass) happen at load time."""

    backend = "ort-cpu"

    def __init__(self, path: str | Path, threads: int = 0, providers: list[str] | None = None,
                 input_dtype: str = "float32",
                 provider_options: list[dict[str, Any]] | None = None) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.intra_op_num_threads = resolve_threads(threads)
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        # Spin while a Run is active (ORT's speed needs it), stop the moment it returns: a
        # pool thread left spinning takes a core from whatever runs between two batches (the
        # evaluator decodes the next batch there). Pure inference is unchanged by it (NOTES §7).
        so.add_session_config_entry("session.force_spinning_stop", "1")
        provs = providers or ["CPUExecutionProvider"]
        missing = [p for p in provs if p not in ort.get_available_providers()]
        if missing:
            raise BackendUnavailable(f"onnxruntime has no {', '.join(missing)} here")
        self.session = ort.InferenceSession(str(path), so, providers=provs,
                                            provider_options=provider_options)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.np_dtype = np.float16 if "float16" in inp.type else np.float32
        #: CPU threads inference keeps busy (0 on a GPU provider): the evaluator's decode
        #: schedule depends on it (workbench.decode_pool.decode_schedule)
        self.cpu_threads = int(so.intra_op_num_threads)
        if providers and providers[0] != "CPUExecutionProvider":
            self.backend = providers[0]
            self.cpu_threads = 0
        self._path = Path(path)

    def runtime_settings(self) -> Any:
        """What the session holds (workbench.runtime_settings.RuntimeSettings)."""
        from workbench.runtime_settings import artifact_dtype

        return ort_settings(self.session, artifact_dtype(self._path) == "int8")

    def predict(self, batch: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=self.np_dtype)})
        return np.asarray(out[0], dtype=np.float32)


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
