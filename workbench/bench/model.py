"""What a benchmark is made of: the grid config, its points, one row of figures per point,
a target's result with its headline figures, and the sweet spot under a latency budget."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.errors import BadInput
from workbench.runtime import Predictor, resolve_threads

PredictorFactory = Callable[[int], Predictor]


@dataclass(frozen=True)
class BenchConfig:
    """What to measure. ``iterations`` (or ``duration_s``) is the total per grid point,
    split evenly over ``rounds``; ``warmup`` requests per stream run before the first round
    (and one per stream before each later round, to re-warm caches after a switch)."""

    batch_sizes: list[int] = field(default_factory=lambda: [1, 8])
    streams: list[int] = field(default_factory=lambda: [1])
    threads: list[int] = field(default_factory=lambda: [0])
    warmup: int = 3
    iterations: int = 20
    duration_s: float | None = None
    latency_budget_ms: float | None = None
    rounds: int = 3
    seed: int = 0
    inputs: str = "random"  # random: seeded normal tensors; real: preprocessed images

    def validate(self) -> BenchConfig:
        """Raise BadInput naming the first bad setting."""
        for name in ("batch_sizes", "streams"):
            values = getattr(self, name)
            if not values or any(int(v) < 1 for v in values):
                raise BadInput(f"bench {name}: expected positive integers, got {values!r}")
        if not self.threads or any(int(t) < 0 for t in self.threads):
            raise BadInput(f"bench threads: expected integers >= 0 (0 = physical cores), got {self.threads!r}")
        if self.warmup < 0:
            raise BadInput(f"bench warmup: expected >= 0, got {self.warmup}")
        if self.duration_s is None and self.iterations < 1:
            raise BadInput(f"bench iterations: expected >= 1, got {self.iterations}")
        if self.duration_s is not None and self.duration_s <= 0:
            raise BadInput(f"bench duration: expected seconds > 0, got {self.duration_s}")
        if self.rounds < 1:
            raise BadInput(f"bench rounds: expected >= 1, got {self.rounds}")
        if self.latency_budget_ms is not None and self.latency_budget_ms <= 0:
            raise BadInput(f"bench latency budget: expected ms > 0, got {self.latency_budget_ms}")
        if self.inputs not in ("random", "real"):
            raise BadInput(f"bench inputs {self.inputs!r}: expected random or real")
        return self


@dataclass(frozen=True)
class GridPoint:
    """One configuration: ``threads`` is the configured total (0 = physical cores)."""

    batch: int
    streams: int
    threads: int

    @property
    def total_threads(self) -> int:
        return resolve_threads(self.threads)

    @property
    def threads_per_stream(self) -> int:
        """The thread budget is shared: N streams get total/N intra-op threads each."""
        return max(1, self.total_threads // self.streams)


@dataclass(frozen=True)
class BenchRow:
    """Figures for one grid point. Latencies are per request (a request is one batch).

    Percentiles pool every measured request of every round; ``throughput`` is the median
    of the per-round throughputs and ``spread`` their (max − min) / median.
    """

    batch: int
    streams: int
    threads: int  # total intra-op threads actually used (0 resolved to physical cores)
    threads_per_stream: int
    requests: int
    images: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    throughput: float  # images / s, median over rounds
    throughput_min: float
    throughput_max: float
    p50_min_ms: float  # per-round p50, min and max over rounds
    p50_max_ms: float
    spread: float  # (throughput_max - throughput_min) / throughput
    rounds: int
    peak_rss_mb: float  # process peak resident set while this point was measured
    sessions_mb: float  # resident-set growth from opening and warming this point's sessions
    gflops: float | None = None  # achieved, from the model's GMACs (2 FLOPs per MAC)
    vs_roofline: float | None = None  # achieved / machine dense-sgemm rate at the same threads
    vs_torch: float | None = None  # throughput / the baseline's at the same grid point
    precision: str = ""  # what the heavy ops ran in, read back from the runtime (f32/bf16/int8)
    limit_precision: str = ""  # whose machine limit vs_roofline divides by (fp32/bf16/int8)
    limit_flag: str = ""  # why vs_roofline may be read with care (above 1.0, noisy probe...)
    runtime: dict[str, Any] | None = None  # effective runtime settings (RuntimeSettings)
    device_peak_mb: float | None = None  # torch.cuda.max_memory_allocated on a GPU target

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.batch, self.streams, self.threads)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BenchResult:
    """All grid points of one target (an artifact, or the torch baseline)."""

    label: str
    backend: str
    input_size: tuple[int, int]
    config: BenchConfig
    rows: list[BenchRow]
    seconds: float = 0.0
    artifact_path: str = ""
    artifact_mb: float | None = None
    gmacs: float | None = None  # per image
    machine_gflops: dict[int, float] = field(default_factory=dict)  # threads -> sgemm GFLOP/s
    baseline_label: str = ""
    baseline_throughput: float | None = None  # the baseline's best img/s
    baseline_p50_ms: float | None = None  # the baseline's latency (smallest batch, one stream)
    limits: dict[str, Any] = field(default_factory=dict)  # precision -> threads -> limit record
    fingerprint: str = ""  # the CPU the rows were measured on (+ the GPU, for a GPU target)
    skipped: list[str] = field(default_factory=list)  # grid points that could not run, why

    @property
    def runtime(self) -> dict[str, Any] | None:
        """The effective runtime settings of the headline (best-throughput) grid point."""
        if not self.rows:
            return None
        return max(self.rows, key=lambda r: r.throughput).runtime

    @property
    def precision(self) -> str:
        rt = self.runtime
        return str(rt.get("compute_precision", "")) if rt else ""

    @property
    def sweet_spot(self) -> BenchRow | None:
        """Best throughput whose p99 fits the latency budget (None if none fits / no budget)."""
        if self.config.latency_budget_ms is None:
            return None
        return sweet_spot(self.rows, self.config.latency_budget_ms)

    def row(self, batch: int, streams: int = 1, threads: int | None = None) -> BenchRow | None:
        for r in self.rows:
            if r.batch == batch and r.streams == streams and (threads is None or r.threads == threads):
                return r
        return None

    def headline(self) -> dict[str, tuple[float, str]]:
        """The leaderboard's figures: latency at the smallest batch on one stream (most
        threads), throughput at the best grid point, and the ratios at that point."""
        if not self.rows:
            return {}
        lat = min(self.rows, key=lambda r: (r.batch, r.streams, -r.threads, r.p50_ms))
        best = max(self.rows, key=lambda r: r.throughput)
        out: dict[str, tuple[float, str]] = {
            "p50_ms": (lat.p50_ms, "ms"), "p90_ms": (lat.p90_ms, "ms"),
            "p99_ms": (lat.p99_ms, "ms"), "mean_ms": (lat.mean_ms, "ms"),
            "throughput": (best.throughput, "img/s"), "spread": (best.spread, ""),
            "best_batch": (float(best.batch), ""), "best_streams": (float(best.streams), ""),
            "peak_rss_mb": (max(r.peak_rss_mb for r in self.rows), "MiB"),
        }
        if self.artifact_mb is not None:
            out["size_mb"] = (self.artifact_mb, "MiB")
        if best.gflops is not None:
            out["gflops"] = (best.gflops, "GFLOP/s")
        if best.vs_roofline is not None:
            out["vs_roofline"] = (best.vs_roofline, "x")
        if self.baseline_throughput:
            # deployment against deployment: best against best, and bs1 latency against bs1
            out["vs_torch"] = (best.throughput / self.baseline_throughput, "x")
        if self.baseline_p50_ms:
            out["vs_torch_latency"] = (self.baseline_p50_ms / lat.p50_ms, "x")
        if self.gmacs is not None:
            out["gmacs"] = (self.gmacs, "GMAC")
            rate = self.machine_gflops.get(best.threads)
            lim = limit_img_s(rate, self.gmacs)
            if rate and lim is not None:
                out["machine_gflops"] = (rate, "GFLOP/s")
                out["limit_img_s"] = (lim, "img/s")
        sweet = self.sweet_spot
        if sweet is not None:
            out["sweet_throughput"] = (sweet.throughput, "img/s")
            out["sweet_batch"] = (float(sweet.batch), "")
            out["sweet_streams"] = (float(sweet.streams), "")
            out["sweet_p99_ms"] = (sweet.p99_ms, "ms")
        return out

    def as_dict(self) -> dict[str, Any]:
        sweet = self.sweet_spot
        return {
            "label": self.label,
            "backend": self.backend,
            "input_size": list(self.input_size),
            "config": asdict(self.config),
            "seconds": round(self.seconds, 3),
            "artifact_path": self.artifact_path,
            "artifact_mb": self.artifact_mb,
            "gmacs": self.gmacs,
            "machine_gflops": {str(k): v for k, v in self.machine_gflops.items()},
            "baseline": self.baseline_label or None,
            "baseline_throughput": self.baseline_throughput,
            "baseline_p50_ms": self.baseline_p50_ms,
            "rows": [r.as_dict() for r in self.rows],
            "headline": {k: v for k, (v, _u) in self.headline().items()},
            "latency_budget_ms": self.config.latency_budget_ms,
            "sweet_spot": None if sweet is None else sweet.as_dict(),
            "budget_met": None if self.config.latency_budget_ms is None else sweet is not None,
            "precision": self.precision,
            "runtime": self.runtime,
            "limits": self.limits,
            "fingerprint": self.fingerprint,
            "inputs": self.config.inputs,
            "skipped": list(self.skipped),
        }


GroupFactory = Callable[[int, int, tuple[int, ...]], Sequence[Predictor]]


@dataclass(frozen=True)
class BenchTarget:
    """Something to measure: a label, a predictor factory and optional facts about it.

    ``group_factory(streams, total_threads)``, when given, opens all of a grid point's
    streams at once (OpenVINO: one compiled model, N infer requests); otherwise each stream
    gets ``factory(total_threads // streams)``.
    """

    label: str
    factory: PredictorFactory
    artifact_path: str = ""
    gmacs: float | None = None
    group_factory: GroupFactory | None = None

    def open(self, point: GridPoint, shape: tuple[int, ...] | None = None) -> list[Predictor]:
        """The grid point's predictors; a model the runtime cannot load is BadInput naming it."""
        from workbench.boundary import runtime_reason
        from workbench.errors import BadInput, WorkbenchError

        try:
            return self._open(point, shape)
        except (WorkbenchError, KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:
            where = self.artifact_path or self.label
            raise BadInput(f"{where}: the runtime cannot load this model ({runtime_reason(exc)})") from None

    def _open(self, point: GridPoint, shape: tuple[int, ...] | None = None) -> list[Predictor]:
        if self.group_factory is not None:
            preds = list(self.group_factory(point.streams, point.total_threads,
                                            shape or (point.batch,)))
            if len(preds) != point.streams:
                raise ValueError(f"{self.label}: group factory gave {len(preds)} predictors "
                                 f"for {point.streams} streams")
            return preds
        return [self.factory(point.threads_per_stream) for _ in range(point.streams)]


def limit_img_s(gflops: float | None, gmacs: float | None) -> float | None:
    """The img/s limit: images per second the machine's dense fp32 GEMM rate (GFLOP/s)
    allows a model of ``gmacs`` GMACs per image (2 FLOPs per MAC); None when unknown."""
    if not gflops or not gmacs or gmacs <= 0:
        return None
    return gflops / (2.0 * gmacs)


def sweet_spot(rows: Sequence[BenchRow], budget_ms: float) -> BenchRow | None:
    """The row with the best throughput whose p99 latency is within ``budget_ms``.

    Ties go to fewer streams, then the smaller batch: the simpler deployment wins.
    """
    fits = [r for r in rows if r.p99_ms <= budget_ms]
    if not fits:
        return None
    return max(fits, key=lambda r: (r.throughput, -r.streams, -r.batch))
