"""The roofline's model side: GMACs per image (ONNX graph, torch, or a named variant).

A throughput alone says little: 12 img/s is excellent on two cores and poor on sixty-four.
HRNet's time is almost all convolution, which a CPU runs as GEMM, so the best dense GEMM
rate this machine reaches with the same threads, in the precision that ran, is a fair
ceiling: ``limit img/s = GEMM GOP/s / (2 × GMACs)``. The per-precision rates are measured
in :mod:`workbench.bench.limits`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.bench.model import limit_img_s
from workbench.errors import BadInput

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from workbench.bench.grid import BenchResult

def variant_gmacs(variant: str, input_size: tuple[int, int]) -> float:
    """GMACs per image of a named variant, from workbench.sources.cost under the official
    convention (conv + linear multiply-adds — what :func:`torch_gmacs` counts), on the meta
    device and cached, so a named variant never needs a forward pass."""
    from workbench.sources.cost import count_variant

    _params, macs = count_variant(variant, (int(input_size[0]), int(input_size[1])))["official"]
    return macs / 1e9


def torch_gmacs(model: torch.nn.Module, input_size: tuple[int, int]) -> float:
    """Multiply-accumulates per image (conv + linear), from torch's own FLOP counter / 2."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    h, w = input_size
    x = torch.zeros(1, 3, h, w)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model.eval()(x)
    return counter.get_total_flops() / 2 / 1e9


_MAC_OPS = {"Conv", "ConvInteger", "QLinearConv", "FusedConv", "NhwcConv",
            "Gemm", "MatMul", "MatMulInteger", "QLinearMatMul", "FusedMatMul"}


def onnx_gmacs(path: str | Path, input_size: tuple[int, int] | None = None) -> float:
    """Multiply-accumulates per image of an ONNX model (conv + gemm/matmul), counted from
    the graph with static shapes. Works on fp32 and QDQ int8 files alike, so an artifact
    can be put on the roofline without the torch model that produced it."""
    import onnx
    from onnx import shape_inference

    path = Path(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise BadInput(f"{path}: not a readable ONNX model ({exc})") from None
    graph = model.graph
    inits = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if not inputs:
        raise BadInput(f"{path}: the ONNX graph has no input")
    dims = inputs[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise BadInput(f"{path}: expected an NCHW image input, got rank {len(dims)}")
    # Pin the batch to 1 and, if given or symbolic, H and W, so every shape is concrete.
    dims[0].ClearField("dim_param")
    dims[0].dim_value = 1
    for d, v in zip(dims[2:], input_size or (None, None), strict=True):
        if v is not None:
            d.ClearField("dim_param")
            d.dim_value = int(v)
        elif not d.HasField("dim_value"):
            raise BadInput(f"{path}: input H/W are dynamic; give the input size")
    inferred = shape_inference.infer_shapes(model, data_prop=True)
    shapes: dict[str, list[int]] = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
    for init in inferred.graph.initializer:
        shapes[init.name] = list(init.dims)

    def shape(name: str) -> list[int]:
        s = shapes.get(name)
        if s is None or any(v < 0 for v in s):
            raise BadInput(f"{path}: cannot infer a static shape for tensor {name!r}")
        return s

    def prod(xs: list[int]) -> int:
        out = 1
        for v in xs:
            out *= v
        return out

    macs = 0
    for node in inferred.graph.node:
        op = node.op_type
        if op not in _MAC_OPS:
            continue
        if op in ("Conv", "ConvInteger", "FusedConv", "NhwcConv"):
            w = shape(node.input[1])
            macs += prod(shape(node.output[0])) * prod(w[1:])
        elif op == "QLinearConv":
            w = shape(node.input[3])
            macs += prod(shape(node.output[0])) * prod(w[1:])
        elif op == "Gemm":
            a = shape(node.input[0])
            trans_a = any(att.name == "transA" and att.i for att in node.attribute)
            k = a[0] if trans_a else a[-1]
            macs += prod(shape(node.output[0])) * k
        elif op in ("MatMul", "MatMulInteger", "FusedMatMul"):
            macs += prod(shape(node.output[0])) * shape(node.input[0])[-1]
        elif op == "QLinearMatMul":
            macs += prod(shape(node.output[0])) * shape(node.input[0])[-1]
    return macs / 1e9


# -- putting a result on the roofline ----------------------------------------------------------


def apply_roofline(result: BenchResult, gmacs: float, rates: dict[int, float]) -> BenchResult:
    """Fill ``gflops`` and ``vs_roofline`` on every row from the model's GMACs and the
    sgemm rate at that row's total thread count (``rates``: threads → GFLOP/s)."""
    result.gmacs = gmacs
    result.machine_gflops = dict(rates)
    rows = []
    for row in result.rows:
        achieved = 2.0 * gmacs * row.throughput
        rate = rates.get(row.threads)
        rows.append(replace(row, gflops=achieved,
                            vs_roofline=(achieved / rate) if rate else None))
    result.rows = rows
    return result


def limit_throughput(gmacs: float, gflops: float) -> float:
    """Images per second the machine's dense fp32 GEMM rate would allow for this model."""
    lim = limit_img_s(gflops, gmacs)
    return float("inf") if lim is None else lim
