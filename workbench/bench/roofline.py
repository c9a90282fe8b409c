"""The machine's limit: model GMACs and a measured dense-sgemm rate.

A throughput alone says little: 12 img/s is excellent on two cores and poor on sixty-four.
HRNet's time is almost all convolution, which a CPU runs as GEMM, so the best dense fp32
GEMM rate this machine reaches with the same threads is a fair ceiling for fp32:
``limit img/s = sgemm GFLOP/s / (2 × GMACs)``. The probe takes a second or two, so it is
measured once per machine (and thread count) and cached under ``<home>/cache/``.

int8 builds can pass 1.0 against this ceiling; that is the point of int8, and the ratio
then says by how much they beat the best fp32 could ever do here.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.atomic import write_json
from workbench.bench.model import limit_img_s
from workbench.errors import BadInput
from workbench.events import Reporter
from workbench.runtime import resolve_threads, usable_cpus

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from workbench.bench.grid import BenchResult

PROBE_VERSION = 1
MACHINE_FILE = "machine.json"


@dataclass(frozen=True)
class MachineLimit:
    """A measured dense fp32 GEMM rate at a given thread count."""

    gflops: float
    threads: int
    n: int  # square matrix size of the probe
    library: str  # which GEMM reached the rate
    cpu: str
    measured_at: float
    cached: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover - non-Linux
        pass
    return platform.processor() or platform.machine()


def machine_fingerprint() -> str:
    """What invalidates a cached probe: CPU model, usable CPUs and the GEMM library."""
    import torch

    return f"{cpu_name()}|cpus={usable_cpus()}|torch={torch.__version__}|probe={PROBE_VERSION}"


def sgemm_probe(threads: int = 0, n: int = 2048, reps: int = 5,
                reporter: Reporter | None = None) -> MachineLimit:
    """Best-of-``reps`` square fp32 matmul rate with torch (MKL/oneDNN on x86), in GFLOP/s.

    Best-of, not median: the ceiling is what the machine *can* do; noise only lowers it.
    """
    import torch

    t = resolve_threads(threads)
    prev = torch.get_num_threads()
    torch.set_num_threads(t)
    try:
        g = torch.Generator().manual_seed(0)
        a = torch.randn(n, n, generator=g)
        b = torch.randn(n, n, generator=g)
        c = torch.empty(n, n)
        torch.mm(a, b, out=c)  # warm the library and the pages
        best = float("inf")
        for _ in range(max(1, reps)):
            if reporter is not None:
                reporter.check_cancelled()
            t0 = time.perf_counter()
            torch.mm(a, b, out=c)
            best = min(best, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(prev)
    gflops = 2.0 * n**3 / best / 1e9
    return MachineLimit(gflops, t, n, f"torch {torch.__version__} mm", cpu_name(), time.time())


def machine_limit(cache_dir: str | Path | None, threads: int = 0, refresh: bool = False,
                  reporter: Reporter | None = None, n: int = 2048) -> MachineLimit:
    """The sgemm rate at ``threads`` threads, from ``<cache_dir>/machine.json`` when this
    machine was already probed, otherwise measured now and cached (atomically)."""
    t = resolve_threads(threads)
    fp = machine_fingerprint()
    path = Path(cache_dir) / MACHINE_FILE if cache_dir is not None else None
    data: dict[str, Any] = {}
    if path is not None and path.is_file():
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            data = {}
    if data.get("fingerprint") != fp:
        data = {"fingerprint": fp, "sgemm": {}}
    hit = data["sgemm"].get(str(t))
    if hit and not refresh:
        return replace(MachineLimit(**hit), cached=True)
    if reporter is not None:
        reporter.log(f"measuring this machine's dense sgemm rate with {t} thread(s) (once; cached)")
    lim = sgemm_probe(t, n=n, reporter=reporter)
    if hit and hit["gflops"] > lim.gflops:
        # A ceiling is the best the machine has shown: a probe on a busy machine only
        # lowers the figure, so a re-probe can raise the cached rate but never lower it.
        lim = MachineLimit(**hit)
    if path is not None:
        data["sgemm"][str(t)] = {k: v for k, v in lim.as_dict().items() if k != "cached"}
        write_json(path, data)
    return lim


# -- model cost ---------------------------------------------------------------------------


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
