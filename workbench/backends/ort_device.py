"""ONNX Runtime on a device: the runner ort-gpu and tensorrt share.

The model's session is ORT's own (:class:`~workbench.backends.ort_session.OrtPredictor`);
the device path is :class:`~workbench.backends.device_predictor.DevicePredictor`'s, its
steps done with IO binding so that tensors stay where the provider runs: the input is
bound as an ``OrtValue`` on the device (a host array is copied there once, an OrtValue
already there is used as is), the logits are bound to the device, and two small graphs run
beside the model on the same device: one gathers uint8 pixels from the CPU path's
normalisation table, one ranks the logits (ONNX ``TopK``: ties to the lower id) and takes
the softmax probabilities of the k kept, whose outputs alone are bound to the host.

On the CPU provider the same code runs with CPU OrtValues (how it is tested here); on a
GPU the helper graphs run on ORT's CUDA provider (TensorRT's models too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from workbench.backends.device_predictor import DevicePredictor
from workbench.backends.ort_session import OrtPredictor

CPU = "CPUExecutionProvider"
OPSET = 17


def _graph(nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: list[Any]) -> bytes:
    from onnx import helper

    model = helper.make_model(helper.make_graph(nodes, "wb_device_step", inputs, outputs, inits),
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # what every ORT this workbench supports reads
    return bytes(model.SerializeToString())


def normalise_graph(table: np.ndarray, out_type: int) -> bytes:
    """uint8 (N, 3, H, W) → the table's value at ``256 * channel + pixel``, as ``out_type``."""
    from onnx import TensorProto, helper, numpy_helper

    offsets = np.array([0, 256, 512], dtype=np.int32).reshape(1, 3, 1, 1)
    nodes = [helper.make_node("Cast", ["pixels"], ["p32"], to=TensorProto.INT32),
             helper.make_node("Add", ["p32", "offsets"], ["idx"]),
             helper.make_node("Gather", ["table", "idx"], ["x32"], axis=0),
             helper.make_node("Cast", ["x32"], ["x"], to=out_type)]
    shape: list[str | int | None] = ["n", 3, "h", "w"]
    return _graph(nodes, [helper.make_tensor_value_info("pixels", TensorProto.UINT8, shape)],
                  [helper.make_tensor_value_info("x", out_type, shape)],
                  [numpy_helper.from_array(table.astype(np.float32), "table"),
                   numpy_helper.from_array(offsets, "offsets")])


def topk_graph(k: int, logits_type: int) -> bytes:
    """logits (N, C) → ids (N, k) by logit, ties to the lower id; their softmax probabilities."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Cast", ["logits"], ["z"], to=TensorProto.FLOAT),
             helper.make_node("TopK", ["z", "k"], ["top", "ids"], axis=1, largest=1, sorted=1),
             helper.make_node("Softmax", ["z"], ["p"], axis=1),
             helper.make_node("GatherElements", ["p", "ids"], ["probs"], axis=1)]
    return _graph(nodes, [helper.make_tensor_value_info("logits", logits_type, ["n", "c"])],
                  [helper.make_tensor_value_info("ids", TensorProto.INT64, ["n", k]),
                   helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["n", k])],
                  [numpy_helper.from_array(np.array([k], dtype=np.int64), "k")])


class OrtDevicePredictor(DevicePredictor, OrtPredictor):
    """An ORT session whose inputs and outputs stay on the provider's device."""

    def __init__(self, path: str | Path, threads: int = 0, providers: list[str] | None = None,
                 provider_options: list[dict[str, Any]] | None = None) -> None:
        OrtPredictor.__init__(self, path, threads, providers=providers,
                              provider_options=provider_options)
        import onnxruntime as ort

        gpu = bool(providers and providers[0] != CPU)
        dev_id = int((provider_options or [{}])[0].get("device_id", 0)) if gpu else 0
        self.device = f"cuda:{dev_id}" if gpu else "cpu"
        self._bind_at = ("cuda" if gpu else "cpu", dev_id)
        wanted = ("CUDAExecutionProvider", CPU) if gpu else (CPU,)
        self._helper_providers = [p for p in wanted if p in ort.get_available_providers()]
        from onnx import TensorProto

        out = self.session.get_outputs()[0]
        self.output_name = out.name
        self._logits_type = TensorProto.FLOAT16 if "float16" in out.type else TensorProto.FLOAT
        self._input_type = TensorProto.FLOAT16 if self.np_dtype == np.float16 else TensorProto.FLOAT
        self._norm_session: Any = None
        self._topk_sessions: dict[int, Any] = {}

    def _session(self, graph: bytes) -> Any:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.intra_op_num_threads = max(1, self.cpu_threads)
        return ort.InferenceSession(graph, so, providers=self._helper_providers)

    def _bound(self, session: Any, inputs: dict[str, Any], outputs: list[str],
               at: tuple[str, int]) -> list[Any]:
        """Run ``session`` with its inputs and outputs bound (outputs allocated at ``at``)."""
        binding = session.io_binding()
        for name, value in inputs.items():
            binding.bind_ortvalue_input(name, value)
        for name in outputs:
            binding.bind_output(name, at[0], at[1])
        session.run_with_iobinding(binding)
        return list(binding.get_outputs())

    # -- the device path's steps (DevicePredictor) --------------------------------------------

    def _upload(self, batch: Any) -> Any:
        import onnxruntime as ort

        if isinstance(batch, ort.OrtValue):
            return batch
        x = np.asarray(batch)
        if x.dtype != np.uint8:
            x = x.astype(self.np_dtype, copy=False)
        return ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(x), *self._bind_at)

    def _is_uint8(self, x: Any) -> bool:
        return bool(x.data_type() == "tensor(uint8)")

    def _load_table(self, table: np.ndarray) -> None:
        self._norm_session = self._session(normalise_graph(table, self._input_type))

    def _normalise(self, x: Any) -> Any:
        return self._bound(self._norm_session, {"pixels": x}, ["x"], self._bind_at)[0]

    def _infer(self, x: Any) -> Any:
        return self._bound(self.session, {self.input_name: x}, [self.output_name], self._bind_at)[0]

    def _topk(self, logits: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        if k not in self._topk_sessions:
            self._topk_sessions[k] = self._session(topk_graph(k, self._logits_type))
        ids, probs = self._bound(self._topk_sessions[k], {"logits": logits}, ["ids", "probs"],
                                 ("cpu", 0))  # only the k ids and probabilities come back
        return ids.numpy(), probs.numpy()

    def _host(self, x: Any) -> np.ndarray:
        return np.asarray(x.numpy())
