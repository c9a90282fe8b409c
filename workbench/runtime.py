"""Runtimes: one small interface over torch eager, ONNX Runtime and OpenVINO.

Evaluation, benchmarking and build-time checks all run models through a
:class:`Predictor`, so a figure from one stage is comparable with a figure from another.
Heavy runtimes are imported lazily, inside the factory that needs them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from workbench.errors import BackendUnavailable, BadInput

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from workbench.runtime_settings import RuntimeSettings


class Predictor(Protocol):
    """Run a float32 NCHW batch, return float32 logits (N, classes)."""

    backend: str

    def predict(self, batch: np.ndarray) -> np.ndarray: ...


def physical_cores() -> int:
    """Physical cores available to this process (affinity-aware; SMT siblings not counted)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    siblings = _smt_per_core()
    return max(1, n // siblings)


def _smt_per_core() -> int:
    try:
        text = Path("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list").read_text().strip()
    except OSError:
        return 1
    count = 0
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            count += int(b) - int(a) + 1
        elif part:
            count += 1
    return max(1, count)


def resolve_threads(threads: int) -> int:
    return threads if threads > 0 else physical_cores()


@dataclass
class TorchPredictor:
    """torch eager fp32: the baseline every other figure is a ratio to."""

    model: torch.nn.Module
    threads: int = 0
    backend: str = "torch"

    def __post_init__(self) -> None:
        import torch

        torch.set_num_threads(resolve_threads(self.threads))
        self.model.eval()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)))
        return out.float().numpy()

    def runtime_settings(self) -> RuntimeSettings:
        from workbench.runtime_settings import torch_settings

        return torch_settings()


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
        provs = providers or ["CPUExecutionProvider"]
        missing = [p for p in provs if p not in ort.get_available_providers()]
        if missing:
            raise BackendUnavailable(f"onnxruntime has no {', '.join(missing)} here")
        self.session = ort.InferenceSession(str(path), so, providers=provs,
                                            provider_options=provider_options)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.np_dtype = np.float16 if "float16" in inp.type else np.float32
        if providers and providers[0] != "CPUExecutionProvider":
            self.backend = providers[0]
        self._path = Path(path)

    def runtime_settings(self) -> RuntimeSettings:
        from workbench.runtime_settings import artifact_dtype, ort_settings

        return ort_settings(self.session, artifact_dtype(self._path) == "int8")

    def predict(self, batch: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=self.np_dtype)})
        return np.asarray(out[0], dtype=np.float32)


class OpenVinoPredictor:
    """OpenVINO CPU. Reads ONNX (fp32 or ORT's QDQ int8) or IR directly."""

    backend = "openvino-cpu"

    def __init__(self, path: str | Path, threads: int = 0, hint: str = "LATENCY",
                 precision: str | None = None) -> None:
        try:
            import openvino as ov
        except ImportError as exc:  # pragma: no cover - dependency is declared
            raise BackendUnavailable(f"openvino is not installed: {exc}") from None
        from workbench.runtime_settings import artifact_dtype, ov_precision_hint

        if precision is None:  # from the artifact's dtype, never the plugin's default
            precision = ov_precision_hint(artifact_dtype(path))
        if precision == "bf16":
            from workbench.hardware import require_bf16

            require_bf16("run a bf16 OpenVINO build")
        core = ov.Core()
        config: dict[str, Any] = {
            "INFERENCE_NUM_THREADS": resolve_threads(threads),
            "PERFORMANCE_HINT": hint,
            # Explicit: on a bf16-capable CPU the plugin's default is bf16, not f32.
            "INFERENCE_PRECISION_HINT": precision,
        }
        self.precision = precision
        self._core, self._config = core, config
        self._model = core.read_model(str(path))
        self.compiled = core.compile_model(self._model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self._static: dict[tuple[int, ...], Any] = {}
        self._last_compiled = self.compiled

    def runtime_settings(self) -> RuntimeSettings:
        """Read back from the compiled model that served the last batch (a static one
        when the model's batch is dynamic)."""
        from workbench.runtime_settings import openvino_settings

        return openvino_settings(self._last_compiled)

    def _request_for(self, shape: tuple[int, ...]) -> Any:
        """A request compiled for this exact input shape when the model's batch is dynamic.

        OpenVINO's CPU plugin runs static shapes faster (hrnet_w18 int8 bs1: 53 vs 57 ms on
        2 threads), so each batch shape seen gets its own compiled model (a few at most:
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


def open_predictor(path: str | Path, backend: str, threads: int = 0, **kwargs: Any) -> Predictor:
    """Open a built artifact for inference on ``backend`` (ort-cpu | openvino-cpu | ort-gpu | tensorrt)."""
    path = Path(path)
    if not path.exists():
        raise BadInput(f"{path}: artifact file not found")
    if backend == "ort-cpu":
        return OrtPredictor(path, threads)
    if backend == "openvino-cpu":
        return OpenVinoPredictor(path, threads, **kwargs)
    if backend == "ort-gpu":
        return OrtPredictor(path, threads, providers=["CUDAExecutionProvider"])
    if backend == "tensorrt":
        # The build records the EP options its artifact needs (trt_int8_enable, trt_fp16_enable).
        meta_file = path.parent / "meta.json"
        opts: dict[str, Any] = {}
        if meta_file.is_file():
            opts = dict(json.loads(meta_file.read_text()).get("provider_options") or {})
        return OrtPredictor(path, threads, providers=["TensorrtExecutionProvider"],
                            provider_options=[{k: str(v) for k, v in opts.items()}])
    raise BadInput(f"unknown backend {backend!r}; expected ort-cpu, openvino-cpu, ort-gpu or tensorrt")


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
