"""The door for ONNX files: is this an image classifier we can build and run?

``check_classifier(path)`` loads the file (no external data), runs ``onnx.checker`` and
then asks for the shape of an image classifier: exactly one float input of rank 4 (NCHW,
3 channels where the axis is fixed) and exactly one output of rank 2 (N, classes). Any
other graph (a two-input Add, an unregistered op, IR version 99, a truncated file) is
refused with the reason, before a build registers it under a model's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.errors import BadInput
from workbench.paths import regular_file

#: Op domains ONNX Runtime and OpenVINO run on a CPU.
KNOWN_DOMAINS = ("", "ai.onnx", "ai.onnx.ml", "com.microsoft")
MAX_ONNX_BYTES = 2 * 2**30  # protobuf's own limit for a single file


@dataclass(frozen=True)
class ClassifierGraph:
    input_name: str
    input_dims: tuple[int | None, ...]  # None where dynamic
    output_name: str
    output_dims: tuple[int | None, ...]
    opset: int
    ir_version: int


def _dims(value_info: object) -> tuple[int | None, ...]:
    shape = value_info.type.tensor_type.shape  # type: ignore[attr-defined]
    return tuple(int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None
                 for d in shape.dim)


def check_classifier(path: str | Path) -> ClassifierGraph:
    """Return the graph's interface, or raise BadInput saying why it is not a classifier."""
    import onnx

    p = regular_file(path, "ONNX file", max_bytes=MAX_ONNX_BYTES)
    if p.stat().st_size == 0:
        raise BadInput(f"{p}: the ONNX file is empty (0 bytes)")
    try:
        proto = onnx.load(str(p), load_external_data=False)
    except Exception as exc:
        raise BadInput(f"{p}: not a readable ONNX model (truncated or not ONNX: "
                       f"{type(exc).__name__})") from None
    if proto.ir_version > onnx.IR_VERSION:
        raise BadInput(f"{p}: ONNX IR version {proto.ir_version} is newer than this onnx "
                       f"package reads ({onnx.IR_VERSION})")
    if not proto.graph.node:
        raise BadInput(f"{p}: not a readable ONNX model (no graph nodes; truncated or not ONNX)")
    foreign = sorted({n.domain for n in proto.graph.node if n.domain not in KNOWN_DOMAINS})
    if foreign:
        raise BadInput(f"{p}: uses ops from unknown domain(s) {', '.join(foreign)}; "
                       "ONNX Runtime and OpenVINO cannot run them")
    try:
        onnx.checker.check_model(proto)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInput(f"{p}: onnx.checker refuses this model ({first})") from None
    inits = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise BadInput(f"{p}: has {len(inputs)} inputs ({', '.join(i.name for i in inputs[:4])}); "
                       "an image classifier takes one NCHW image tensor")
    inp = inputs[0]
    elem = inp.type.tensor_type.elem_type
    if elem not in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16):
        raise BadInput(f"{p}: input {inp.name!r} is {onnx.TensorProto.DataType.Name(elem)}; "
                       "an image classifier takes float (or float16) pixels")
    idims = _dims(inp)
    if len(idims) != 4:
        raise BadInput(f"{p}: input {inp.name!r} has rank {len(idims)}; expected 4 (N, 3, H, W)")
    if idims[1] not in (None, 3):
        raise BadInput(f"{p}: input {inp.name!r} has {idims[1]} channels; expected NCHW with 3")
    outs = list(proto.graph.output)
    if len(outs) != 1:
        raise BadInput(f"{p}: has {len(outs)} outputs; an image classifier has one (N, classes)")
    odims = _dims(outs[0])
    if len(odims) != 2:
        raise BadInput(f"{p}: output {outs[0].name!r} has rank {len(odims)}; expected 2 (N, classes)")
    opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    return ClassifierGraph(inp.name, idims, outs[0].name, odims, int(opset), int(proto.ir_version))
