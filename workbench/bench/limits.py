"""The machine's limit per precision: the peak of the runtimes' own dense GEMM.

One limit for every build says little once builds run in different precisions: an int8
or bf16 build "beats" an fp32 sgemm ceiling by design. So each precision gets its own
ceiling — one large MatMul model per dtype (fp32 always; bf16 where the CPU and OpenVINO
offer it; int8 as an ONNX QDQ u8×s8 MatMul) run through OpenVINO and ONNX Runtime with the
same threads, best of the runtimes — and ``×limit`` divides by the limit of the precision
the runtime reports it actually ran.

A probe on a busy machine only measures the noise. Every probe records the load average
before and after and the spread of its repetitions; a noisy one is used for the run that
asked (its rows are flagged) but never cached as the machine's limit, and a quiet cached
probe is kept in preference to it.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.atomic import write_json
from workbench.events import Reporter
from workbench.runtime import resolve_threads
from workbench.tables import format_percent

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from workbench.bench.grid import BenchResult

LIMITS_VERSION = 1
LIMITS_FILE = "limits.json"
#: A probe is noisy when the 1-minute load average before or after it exceeds this share
#: of the usable CPUs (the probe's own threads excluded), or its repetitions spread more.
MAX_LOAD_PER_CPU = 0.5
MAX_SPREAD = 0.25


@dataclass(frozen=True)
class PrecisionLimit:
    """The best dense-GEMM rate seen for one precision at one thread count."""

    precision: str  # fp32 | bf16 | int8
    gops: float  # best rate, 2 ops per multiply-accumulate
    median_gops: float
    threads: int
    n: int  # square matrix size
    runtime: str  # which runtime's GEMM reached ``gops``
    ran_as: str  # the precision the runtime reports its MatMul ran in
    fingerprint: str
    load_before: float
    load_after: float
    spread: float  # (slowest - fastest) / fastest repetition
    quiet: bool
    measured_at: float
    cached: bool = False
    per_runtime: dict[str, float] | None = None

    # the MachineLimit names the printers and older callers use
    @property
    def gflops(self) -> float:
        return self.gops

    @property
    def library(self) -> str:
        return self.runtime

    @property
    def noise(self) -> str:
        """Why this probe is not trusted as the machine's limit ('' when it is)."""
        if self.quiet:
            return ""
        return (f"{self.precision} limit probed under load (load average {self.load_before:.1f}"
                f"→{self.load_after:.1f} on {self.cpus} CPU(s), spread {format_percent(self.spread, '{:.0f}')}%)")

    @property
    def cpus(self) -> int:
        return _cpus()

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["gflops"] = self.gops
        return d


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def load_average() -> float:
    try:
        return float(os.getloadavg()[0])
    except OSError:  # pragma: no cover - not available
        return 0.0


def is_quiet(load_before: float, load_after: float, spread: float, threads: int) -> bool:
    """Quiet: nobody else was busy (the load our own probe adds is allowed for) and the
    repetitions agree."""
    budget = MAX_LOAD_PER_CPU * _cpus()
    return load_before <= budget and load_after - threads <= budget and spread <= MAX_SPREAD


def others_load_per_cpu(load_before: float, load_after: float, threads: int) -> float:
    """The load average others put on this machine during a measurement, per usable CPU
    (our own ``threads`` taken off the load after it). Above 1.0 the cores were
    oversubscribed, and speed figures read low."""
    return max(load_before, load_after - threads) / _cpus()


def supported_precisions() -> list[str]:
    """fp32 and u8s8 int8 run on every x86 CPU we support; bf16 only where offered."""
    from workbench.hardware import bf16_support

    out = ["fp32"]
    if bf16_support()[0]:
        out.append("bf16")
    out.append("int8")
    return out


# -- the GEMM models ---------------------------------------------------------------------------


def _matmul_onnx(path: Path, n: int, precision: str) -> None:
    """A MatMul of an (n, n) input by an (n, n) constant; int8 as QDQ u8 × s8."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = []
    nodes = []
    a = "A"
    if precision == "int8":
        w = rng.integers(-127, 128, size=(n, n), dtype=np.int8)
        inits += [numpy_helper.from_array(w, "Bq"),
                  numpy_helper.from_array(np.array(0.01, np.float32), "sb"),
                  numpy_helper.from_array(np.array(0, np.int8), "zb"),
                  numpy_helper.from_array(np.array(0.05, np.float32), "sa"),
                  numpy_helper.from_array(np.array(128, np.uint8), "za")]
        nodes += [helper.make_node("QuantizeLinear", ["A", "sa", "za"], ["Aq"]),
                  helper.make_node("DequantizeLinear", ["Aq", "sa", "za"], ["Ad"]),
                  helper.make_node("DequantizeLinear", ["Bq", "sb", "zb"], ["B"])]
        a = "Ad"
    else:
        inits.append(numpy_helper.from_array(rng.standard_normal((n, n), dtype=np.float32), "B"))
    nodes.append(helper.make_node("MatMul", [a, "B"], ["Y"]))
    graph = helper.make_graph(nodes, "gemm", [helper.make_tensor_value_info("A", TensorProto.FLOAT, [n, n])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [n, n])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _time_reps(fn: Any, x: np.ndarray, reps: int, reporter: Reporter | None) -> list[float]:
    fn(x)  # warm the kernels and the pages
    fn(x)
    times = []
    for _ in range(max(1, reps)):
        if reporter is not None:
            reporter.check_cancelled()
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return times


def _run_openvino(path: Path, precision: str, threads: int, x: np.ndarray, reps: int,
                  reporter: Reporter | None) -> tuple[list[float], str]:
    import openvino as ov

    from workbench.backends.openvino_cpu.settings import openvino_settings

    compiled = ov.Core().compile_model(str(path), "CPU", {
        "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"})
    req = compiled.create_infer_request()
    times = _time_reps(lambda a: req.infer({0: a}), x, reps, reporter)
    return times, openvino_settings(compiled).compute_precision


def _run_ort(path: Path, threads: int, x: np.ndarray, reps: int,
             reporter: Reporter | None) -> list[float]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return _time_reps(lambda a: sess.run(None, {"A": a}), x, reps, reporter)


def probe_gemm(precision: str, threads: int = 0, n: int = 2048, reps: int = 8,
               reporter: Reporter | None = None) -> PrecisionLimit:
    """Measure one precision's dense GEMM peak now (OpenVINO where installed, and ORT for
    fp32/int8)."""
    import numpy as np

    from workbench.hardware import fingerprint, require_bf16

    if precision not in ("fp32", "bf16", "int8"):
        raise ValueError(f"precision {precision!r}")
    if precision == "bf16":
        require_bf16("probe the bf16 limit")
    t = resolve_threads(threads)
    x = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
    load_before = load_average()
    per: dict[str, list[float]] = {}
    ran_as = {"fp32": "f32", "bf16": "bf16", "int8": "int8"}[precision]
    with tempfile.TemporaryDirectory(prefix="hrnet-wb-gemm-") as tmp:
        path = Path(tmp) / f"gemm-{precision}-{n}.onnx"
        _matmul_onnx(path, n, precision)
        if _ov_version():  # optional: without it, ONNX Runtime's GEMM is the limit
            times, ran = _run_openvino(path, precision, t, x, reps, reporter)
            per[f"openvino {_ov_version()} MatMul ({ran})"] = times
            ran_as = ran
        if precision != "bf16":
            per[f"onnxruntime {_ort_version()} MatMul"] = _run_ort(path, t, x, reps, reporter)
    load_after = load_average()
    ops = 2.0 * n**3
    rates = {k: ops / min(v) / 1e9 for k, v in per.items()}
    best_rt = max(rates, key=lambda k: rates[k])
    times = per[best_rt]
    spread = (max(times) - min(times)) / min(times)
    return PrecisionLimit(
        precision=precision, gops=rates[best_rt], median_gops=ops / statistics.median(times) / 1e9,
        threads=t, n=n, runtime=best_rt, ran_as=ran_as, fingerprint=fingerprint(),
        load_before=load_before, load_after=load_after, spread=spread,
        quiet=is_quiet(load_before, load_after, spread, t), measured_at=time.time(),
        per_runtime={k: round(v, 2) for k, v in rates.items()},
    )


def _ov_version() -> str:
    """OpenVINO's version, or '' where it is not installed (it is optional)."""
    try:
        import openvino as ov
    except ImportError:
        return ""
    return str(ov.__version__).split("-")[0]


def _ort_version() -> str:
    import onnxruntime as ort

    return str(ort.__version__)


def read_limits_cache(path: Path | None, key: str) -> dict[str, Any]:
    """A limits cache file's content, or an empty one when it is missing, unreadable or was
    written for another machine or version (``key``)."""
    data: dict[str, Any] = {}
    if path is not None and path.is_file():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
    return data if data.get("key") == key else {"key": key, "limits": {}}


def cache_key() -> str:
    """What invalidates cached limits: the CPU, the runtimes' versions, this probe."""
    from workbench.hardware import fingerprint

    return f"{fingerprint()}|ov={_ov_version() or 'none'}|ort={_ort_version()}|v={LIMITS_VERSION}"


def machine_limits(cache_dir: str | Path | None, threads: int = 0,
                   precisions: list[str] | None = None, refresh: bool = False,
                   reporter: Reporter | None = None, n: int = 2048,
                   ) -> dict[str, PrecisionLimit]:
    """The limit of each precision at ``threads``, cached per CPU fingerprint in
    ``<cache_dir>/limits.json``. Only quiet probes are cached; a noisy probe is returned for
    this run (``quiet=False``) unless a quiet cached one exists, which wins."""
    t = resolve_threads(threads)
    want = precisions or supported_precisions()
    path = Path(cache_dir) / LIMITS_FILE if cache_dir is not None else None
    key = cache_key()
    data = read_limits_cache(path, key)
    out: dict[str, PrecisionLimit] = {}
    dirty = False
    for prec in want:
        hit = data["limits"].get(prec, {}).get(str(t))
        if hit and not refresh:
            out[prec] = replace(PrecisionLimit(**hit), cached=True)
            continue
        if reporter is not None:
            reporter.log(f"measuring this machine's {prec} dense GEMM peak with {t} thread(s)")
        lim = probe_gemm(prec, t, n=n, reporter=reporter)
        if not lim.quiet:
            if reporter is not None:
                reporter.log(f"{lim.noise}: not cached as the machine's limit", "warning")
            if hit and PrecisionLimit(**hit).quiet:
                out[prec] = replace(PrecisionLimit(**hit), cached=True)
                continue
            out[prec] = lim
            continue
        if hit and hit.get("quiet") and hit["gops"] > lim.gops:
            lim = PrecisionLimit(**hit)  # a ceiling is the best a quiet machine has shown
        data["limits"].setdefault(prec, {})[str(t)] = {
            k: v for k, v in asdict(lim).items() if k != "cached"}
        out[prec] = lim
        dirty = True
    if dirty and path is not None:
        write_json(path, data)
    return out


# -- putting a result on its own precision's roofline ------------------------------------------


def apply_limits(result: BenchResult, gmacs: float,
                 limits: dict[int, dict[str, PrecisionLimit]]) -> BenchResult:
    """Fill ``gflops``, ``vs_roofline``, ``limit_precision`` and ``limit_flag`` on every row.

    ``limits``: threads -> precision -> limit. A row is divided by the limit of the
    precision its runtime reported (fp32 when unknown). A row above 1.0×, or measured
    against a noisy probe, says why in ``limit_flag``; a precision with no limit gets none.
    """
    result.gmacs = gmacs
    rows = []
    used: dict[int, float] = {}
    for row in result.rows:
        achieved = 2.0 * gmacs * row.throughput
        prec = row.limit_precision or "fp32"
        lim = limits.get(row.threads, {}).get(prec)
        if lim is None:
            rows.append(replace(row, gflops=achieved, vs_roofline=None, limit_precision=prec,
                                limit_flag=f"no {prec} limit measured at {row.threads} threads"))
            continue
        vs = achieved / lim.gops if lim.gops > 0 else None
        flags = []
        if lim.noise:
            flags.append(lim.noise)
        if vs is not None and vs > 1.0:
            flags.append(f"above the {prec} limit: "
                         + ("the limit was probed under load" if lim.noise else
                            f"the runtime beat its own {prec} dense GEMM probe "
                            f"({lim.runtime}, n={lim.n}); the probe is not this CPU's peak"))
        rows.append(replace(row, gflops=achieved, vs_roofline=vs, limit_precision=prec,
                            limit_flag="; ".join(flags)))
        used.setdefault(row.threads, lim.gops)
    result.rows = rows
    best = max(result.rows, key=lambda r: r.throughput) if result.rows else None
    if best is not None:
        prec = best.limit_precision or "fp32"
        result.machine_gflops = {t: by[prec].gops for t, by in limits.items() if prec in by}
    result.limits = {p: {str(t): by[p].as_dict() for t, by in limits.items() if p in by}
                     for p in sorted({p for by in limits.values() for p in by})}
    return result


def limits_for(cache_dir: str | Path | None, threads: list[int], refresh: bool = False,
               reporter: Reporter | None = None,
               precisions: list[str] | None = None) -> dict[int, dict[str, PrecisionLimit]]:
    """:func:`machine_limits` for every total thread count of a grid."""
    return {t: machine_limits(cache_dir, t, precisions, refresh=refresh, reporter=reporter)
            for t in sorted({resolve_threads(x) for x in threads})}
