"""Benchmarking: latency percentiles and throughput over a grid, against torch eager and the
machine's own limit, with the sweet spot under a latency budget.

``grid`` measures, ``roofline`` says how far a figure is from what this machine can do,
``record`` puts results in the run store. Heavy runtimes load lazily, inside the factories.
"""

from __future__ import annotations

from workbench.bench.baseline import (
    BASELINE_LABEL,
    load_baseline,
    load_variant,
    register_baseline,
    torch_baseline,
    torch_target,
)
from workbench.bench.grid import (
    BenchConfig,
    BenchResult,
    BenchRow,
    BenchTarget,
    GridPoint,
    PredictorFactory,
    benchmark,
    benchmark_targets,
    grid_points,
    sweet_spot,
)
from workbench.bench.record import grid_from_store, record_result, record_results
from workbench.bench.roofline import (
    MachineLimit,
    apply_roofline,
    limit_throughput,
    machine_limit,
    onnx_gmacs,
    sgemm_probe,
    torch_gmacs,
    variant_gmacs,
)

__all__ = [
    "BASELINE_LABEL", "load_baseline", "load_variant", "register_baseline", "torch_baseline",
    "torch_target",
    "grid_from_store", "record_result", "record_results",
    "BenchConfig", "BenchResult", "BenchRow", "BenchTarget", "GridPoint", "PredictorFactory",
    "benchmark", "benchmark_targets", "grid_points", "sweet_spot",
    "MachineLimit", "apply_roofline", "limit_throughput", "machine_limit", "onnx_gmacs",
    "sgemm_probe", "torch_gmacs", "variant_gmacs",
]
