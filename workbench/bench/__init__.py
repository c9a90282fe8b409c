"""Benchmarking: latency percentiles and throughput over a grid, against torch eager and the
machine's own limit, with the sweet spot under a latency budget.

- ``grid``: the interleaved batch × streams × threads measurement (``benchmark``,
  ``benchmark_targets``, ``sweet_spot``);
- ``roofline``: model GMACs (ONNX graph, torch, or a named variant);
- ``limits``: the machine's dense-GEMM peak per precision (fp32, bf16, int8), cached per CPU;
- ``baseline``: torch eager fp32 of the same variant;
- ``record``: results into the run store;
- ``target`` / ``bench_run``: what ``hrnet-wb bench`` resolves and runs (and ``measure_builds``
  for the pipeline); ``compare``: the five-backend side-by-side table.

Heavy runtimes load lazily, inside the factories.
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
from workbench.bench.limits import (
    PrecisionLimit,
    apply_limits,
    limits_for,
    machine_limits,
    probe_gemm,
)
from workbench.bench.record import grid_from_store, record_result, record_results
from workbench.bench.roofline import (
    apply_roofline,
    limit_throughput,
    onnx_gmacs,
    torch_gmacs,
    variant_gmacs,
)

__all__ = [
    "BASELINE_LABEL", "load_baseline", "load_variant", "register_baseline", "torch_baseline",
    "torch_target",
    "grid_from_store", "record_result", "record_results",
    "BenchConfig", "BenchResult", "BenchRow", "BenchTarget", "GridPoint", "PredictorFactory",
    "benchmark", "benchmark_targets", "grid_points", "sweet_spot",
    "PrecisionLimit", "apply_limits", "limits_for", "machine_limits", "probe_gemm",
    "apply_roofline", "limit_throughput", "onnx_gmacs", "torch_gmacs", "variant_gmacs",
]
