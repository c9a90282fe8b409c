"""ONNX Runtime builds: the fp32 artifact and the QDQ int8 quantizer every int8 recipe uses.

fp32 ships the exported ONNX unchanged. ORT's layout pass (NCHWc) is worth about 2.2× on
this CPU, but it runs at session creation (``workbench.backends.ort_cpu.OrtPredictor`` asks for
``ORT_ENABLE_ALL``); an NCHWc file saved here would be tied to this host's ISA.

int8 is QDQ with **u8 activations, s8 per-channel weights**, and ``reduce_range`` chosen for
the target CPU. On AVX2 without VNNI, ORT's u8×s8 kernels use VPMADDUBSW, whose 16-bit
intermediate saturates unless weights use 7 bits (reduce_range); with VNNI (or AMX) the
dot product accumulates in 32 bits, so reduce_range would only throw a bit of weight
precision away. ORT's default S8S8 fuses only 141 of hrnet_w18's 325 convs and runs slower
than fp32 on AVX2, so it is never built for x86.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from workbench.atomic import atomic_path
from workbench.errors import BadInput, WorkbenchError
from workbench.events import Reporter

#: The two QDQ schemes we build. ``u8s8`` runs on x86 CPUs (ORT, OpenVINO);
#: ``s8s8-symmetric`` is what TensorRT's explicit-quantization path accepts.
SCHEMES = ("u8s8", "s8s8-symmetric")


def ort_calibration_method(method: str) -> Any:
    """ORT's calibrator enum for one of our method names."""
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile}[method]


@contextlib.contextmanager
def quiet_ort() -> Iterator[io.StringIO]:
    """Keep ORT's quantization tooling from printing or warning onto the user's terminal."""
    sink = io.StringIO()
    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(sink):
            yield sink
    finally:
        root.setLevel(old)


def prepare_model(onnx_path: Path, out_path: Path, reporter: Reporter | None = None) -> Path:
    """ORT's quantization pre-processing (basic graph optimisation + shape inference).

    Its symbolic shape inference fails on HRNet's export ("Incomplete symbolic shape
    inference"), so it is skipped; ONNX's own shape inference still runs.
    """
    if out_path.is_file():
        return out_path
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with atomic_path(out_path, suffix=".onnx") as tmp, quiet_ort():
        try:
            quant_pre_process(str(onnx_path), str(tmp), skip_symbolic_shape=True)
        except (KeyboardInterrupt, WorkbenchError):
            raise  # a cancel or Ctrl-C is not a bad model
        except Exception as exc:
            raise BadInput(f"{onnx_path}: ORT could not prepare this model for quantization: {exc}") from None
    if reporter is not None:
        reporter.log(f"prepared {onnx_path.name} for quantization")
    return out_path


def quantize_qdq(prepared: Path, out: Path, ranges_path: Path, method: str, *,
                 scheme: str = "u8s8", nodes_to_exclude: Sequence[str] = (),
                 reporter: Reporter | None = None, reduce_range: bool = True) -> dict[str, Any]:
    """Write a QDQ int8 model from ``prepared`` using pre-computed calibration ranges.

    Returns the quantizer settings, which go into the artifact's metadata verbatim.
    ``reduce_range`` applies to u8s8 only: True for CPUs without VNNI.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static


    if scheme == "u8s8":
        settings: dict[str, Any] = {
            "format": "QDQ", "activation_type": "QUInt8", "weight_type": "QInt8",
            "per_channel": True, "reduce_range": bool(reduce_range), "activation_symmetric": False,
        }
        act, wt, extra = QuantType.QUInt8, QuantType.QInt8, {}
    elif scheme == "s8s8-symmetric":
        settings = {
            "format": "QDQ", "activation_type": "QInt8", "weight_type": "QInt8",
            "per_channel": True, "reduce_range": False, "activation_symmetric": True,
            "weight_symmetric": True,
        }
        act, wt, reduce_range = QuantType.QInt8, QuantType.QInt8, False
        extra = {"ActivationSymmetric": True, "WeightSymmetric": True}
    else:
        raise BadInput(f"quantization scheme {scheme!r}: expected one of {', '.join(SCHEMES)}")
    if nodes_to_exclude:
        # the Relu/Clip that QDQ would fold into a u8 clamp must stay in the graph, or the
        # float path of an excluded node would read a pre-ReLU tensor (see keep_in_float)
        extra = {**extra, "QDQKeepRemovableActivations": True}
    with quiet_ort():
        quantize_static(
            str(prepared), str(out), None,
            quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=reduce_range,
            activation_type=act, weight_type=wt, nodes_to_exclude=list(nodes_to_exclude),
            calibrate_method=ort_calibration_method(method), extra_options=extra,
            calibration_cache_path=str(ranges_path),
        )
    if nodes_to_exclude:
        settings["inputs_kept_float"] = keep_in_float(out, nodes_to_exclude)
        settings["keep_removable_activations"] = True
    settings["nodes_excluded"] = list(nodes_to_exclude)
    if reporter is not None:
        reporter.log(f"quantized ({scheme}, {len(nodes_to_exclude)} node(s) kept in fp32)")
    return settings


def keep_in_float(qdq_path: Path, nodes: Sequence[str]) -> int:
    """Make excluded nodes really compute in fp32: feed them the float tensors.

    ORT's ``nodes_to_exclude`` only stops a node from quantizing; a tensor its neighbours
    quantize (a conv's output, a fused branch) still reaches it through a Q→DQ pair, so an
    excluded fusion Add would still add two 8-bit inputs. Here each excluded node's input
    that comes from ``DequantizeLinear(QuantizeLinear(t))`` is rewired to ``t``; other
    consumers keep their quantized copy; Q/DQ nodes left without consumers are dropped.
    Returns how many inputs were rewired.
    """
    import onnx

    model = onnx.load(str(qdq_path))
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    wanted = set(nodes)
    rewired = 0
    for n in g.node:
        if n.name not in wanted:
            continue
        for i, name in enumerate(n.input):
            dq = producer.get(name)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            q = producer.get(dq.input[0])
            if q is None or q.op_type != "QuantizeLinear":
                continue  # a quantized weight: no float original in the graph
            n.input[i] = q.input[0]
            rewired += 1
    while True:  # drop Q/DQ nodes nobody reads any more
        used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        dead = [n for n in g.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
                and not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
    onnx.save(model, str(qdq_path))
    return rewired
