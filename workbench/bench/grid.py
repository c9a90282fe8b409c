"""Latency and throughput over a grid of batch × streams × threads, in interleaved rounds.

Why rounds: a shared 2-core machine drifts by tens of percent within a minute. Running
every configuration once per round (A, B, C, A, B, C, ...) spreads that drift over all of
them, so their *ratios* stay meaningful; the median over rounds is the figure and the
min–max over rounds is printed beside it, so a reader can see how much to trust it.

Why streams: vamp's instances and benchmark_app's nstreams both run N requests in flight
at once. Here each stream is its own predictor (session) in its own Python thread, with
the thread budget split between them; every runtime we use releases the GIL while it
computes. Latency is per request, throughput is images over wall time for all streams.
"""

from __future__ import annotations

import math
import re
import resource
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import BadInput
from workbench.events import Reporter
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
    fingerprint: str = ""  # the CPU the rows were measured on (workbench.hardware)

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
            if rate and self.gmacs > 0:
                out["machine_gflops"] = (rate, "GFLOP/s")
                out["limit_img_s"] = (rate / (2.0 * self.gmacs), "img/s")
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
        }


GroupFactory = Callable[[int, int, tuple[int, ...]], Sequence[Predictor]]


@dataclass(frozen=True)
class BenchTarget:
    """Something to measure: a label, a predictor factory and optional facts about it.

    ``group_factory(streams, total_threads, input_shape)``, when given, opens all of a grid
    point's streams at once, compiled for that point's static input shape (OpenVINO: one
    compiled model, N infer requests); otherwise each stream gets
    ``factory(total_threads // streams)``.
    """

    label: str
    factory: PredictorFactory
    artifact_path: str = ""
    gmacs: float | None = None
    group_factory: GroupFactory | None = None

    def open(self, point: GridPoint, shape: tuple[int, ...] | None = None) -> list[Predictor]:
        if self.group_factory is not None:
            preds = list(self.group_factory(point.streams, point.total_threads,
                                            shape or (point.batch,)))
            if len(preds) != point.streams:
                raise ValueError(f"{self.label}: group factory gave {len(preds)} predictors "
                                 f"for {point.streams} streams")
            return preds
        return [self.factory(point.threads_per_stream) for _ in range(point.streams)]


def sweet_spot(rows: Sequence[BenchRow], budget_ms: float) -> BenchRow | None:
    """The row with the best throughput whose p99 latency is within ``budget_ms``.

    Ties go to fewer streams, then the smaller batch: the simpler deployment wins.
    """
    fits = [r for r in rows if r.p99_ms <= budget_ms]
    if not fits:
        return None
    return max(fits, key=lambda r: (r.throughput, -r.streams, -r.batch))


# -- resident set ----------------------------------------------------------------------


def _status_kb(field_name: str) -> float | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    m = re.search(rf"^{field_name}:\s+(\d+)\s+kB", text, re.MULTILINE)
    return float(m.group(1)) if m else None


def current_rss_mb() -> float:
    kb = _status_kb("VmRSS")
    if kb is None:  # pragma: no cover - non-Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return kb / 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's per-process high-water mark (Linux ≥ 4.0: clear_refs ``5``), so
    the next :func:`peak_rss_mb` covers only what ran since. False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    kb = _status_kb("VmHWM")
    if kb is None:  # pragma: no cover - non-Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return kb / 1024


# -- one round ---------------------------------------------------------------------------


@dataclass
class _RoundOut:
    latencies_ms: list[float]
    images: int
    wall_s: float


def _prepare(predictors: Sequence[Predictor], threads_per_stream: int) -> None:
    """torch's intra-op pool is process-global: set it for this point before each round."""
    if any(getattr(p, "backend", "") == "torch" for p in predictors):
        import torch

        torch.set_num_threads(threads_per_stream)


def _run_round(predictors: Sequence[Predictor], x: np.ndarray, *, requests: int | None,
               duration_s: float | None, reporter: Reporter) -> _RoundOut:
    """Run ``requests`` requests (or until ``duration_s``) spread over the streams.

    Streams pull tickets from one shared counter, like benchmark_app's request queue, so a
    slow stream does not hold the round back by a fixed share of the work.
    """
    batch = int(x.shape[0])
    lock = threading.Lock()
    issued = 0
    latencies: list[float] = []
    errors: list[BaseException] = []
    deadline: list[float] = [math.inf]

    def take() -> bool:
        nonlocal issued
        with lock:
            if errors or reporter.cancelled:
                return False
            if requests is not None and issued >= requests:
                return False
            if requests is None and time.perf_counter() >= deadline[0]:
                return False
            issued += 1
            return True

    def worker(pred: Predictor) -> None:
        mine: list[float] = []
        try:
            while take():
                t0 = time.perf_counter()
                pred.predict(x)
                mine.append((time.perf_counter() - t0) * 1e3)
        except BaseException as exc:  # re-raised in the caller's thread
            with lock:
                errors.append(exc)
        with lock:
            latencies.extend(mine)

    t_start = time.perf_counter()
    if duration_s is not None:
        deadline[0] = t_start + duration_s
    if len(predictors) == 1:
        worker(predictors[0])
    else:
        threads = [threading.Thread(target=worker, args=(p,), daemon=True) for p in predictors]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    wall = time.perf_counter() - t_start
    if errors:
        raise errors[0]
    reporter.check_cancelled()
    return _RoundOut(latencies, batch * len(latencies), wall)


# -- the grid ----------------------------------------------------------------------------


def grid_points(config: BenchConfig) -> list[GridPoint]:
    """Every batch × streams × threads combination, in the order given, without repeats."""
    seen: dict[tuple[int, int, int], GridPoint] = {}
    for t in config.threads:
        for s in config.streams:
            for b in config.batch_sizes:
                p = GridPoint(int(b), int(s), int(t))
                seen.setdefault((p.batch, p.streams, p.total_threads), p)
    return list(seen.values())


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


@dataclass
class _PointState:
    target: BenchTarget
    point: GridPoint
    predictors: list[Predictor] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    round_tput: list[float] = field(default_factory=list)
    round_p50: list[float] = field(default_factory=list)
    images: int = 0
    peak_rss: float = 0.0
    sessions_mb: float = 0.0
    runtime: dict[str, Any] | None = None


def benchmark_targets(targets: Sequence[BenchTarget], input_size: tuple[int, int],
                      config: BenchConfig, reporter: Reporter | None = None,
                      baseline: str | None = None,
                      images: np.ndarray | None = None) -> list[BenchResult]:
    """Measure every target over the grid, interleaving rounds across all of them.

    Sessions are opened once per (target, streams, threads) — per batch too for targets
    compiled at static shapes — and kept for every round, so opening cost never lands in a
    figure. ``baseline`` names the target whose throughput every other target's
    ``vs_torch`` is a ratio to (at the same grid point). ``images`` (N, 3, H, W), when
    given, fill every batch (cycled) instead of seeded random tensors.
    """
    config.validate()
    rep = reporter or Reporter()
    h, w = input_size
    if not targets:
        raise BadInput("bench: nothing to measure")
    labels = [t.label for t in targets]
    if len(set(labels)) != len(labels):
        raise BadInput(f"bench: duplicate target labels in {labels}")
    if baseline is not None and baseline not in labels:
        raise BadInput(f"bench: baseline {baseline!r} is not one of {labels}")

    points = grid_points(config)
    rng = np.random.default_rng(config.seed)
    if images is not None:
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, h, w) or not len(images):
            raise BadInput(f"bench: real inputs must be (N, 3, {h}, {w}), got {images.shape}")
        src = np.ascontiguousarray(images, dtype=np.float32)
        inputs = {b: src[np.arange(b) % len(src)] for b in sorted({p.batch for p in points})}
    else:
        inputs = {b: rng.standard_normal((b, 3, h, w), dtype=np.float32)
                  for b in sorted({p.batch for p in points})}
    rounds = config.rounds if config.duration_s is not None else min(config.rounds, config.iterations)
    per_round = _split(config.iterations, rounds) if config.duration_s is None else []
    per_round_s = config.duration_s / rounds if config.duration_s is not None else None

    sessions: dict[tuple[str, int, int, int], list[Predictor]] = {}
    opened_mb: dict[tuple[str, int, int, int], float] = {}
    states = [_PointState(t, p) for t in targets for p in points]
    total = rounds * len(states)
    done = 0
    t0 = time.perf_counter()
    rep.log(f"bench: {len(targets)} target(s) × {len(points)} grid point(s) × {rounds} round(s), "
            f"input {h}x{w}")
    for r in range(rounds):
        for st in states:
            rep.check_cancelled()
            p = st.point
            static = st.target.group_factory is not None
            skey = (st.target.label, p.streams, p.total_threads, p.batch if static else 0)
            x = inputs[p.batch]
            if skey not in sessions:
                before = current_rss_mb()
                sessions[skey] = st.target.open(p, tuple(x.shape))
                _prepare(sessions[skey], p.threads_per_stream)
                _run_round(sessions[skey], x, requests=max(1, config.warmup) * p.streams,
                           duration_s=None, reporter=rep)
                opened_mb[skey] = max(0.0, current_rss_mb() - before)
            else:
                _prepare(sessions[skey], p.threads_per_stream)
                # full warmup for a new batch shape, then one request per stream to re-warm
                # caches after the other configurations ran
                n_warm = config.warmup if r == 0 else min(config.warmup, 1)
                if n_warm:
                    _run_round(sessions[skey], x, requests=n_warm * p.streams, duration_s=None,
                               reporter=rep)
            st.predictors = sessions[skey]
            st.sessions_mb = opened_mb[skey]
            if st.runtime is None:
                from workbench.runtime_settings import settings_of

                s = settings_of(st.predictors)
                st.runtime = None if s is None else s.as_dict()
            reset_peak_rss()
            n_req = max(p.streams, per_round[r]) if per_round else None
            out = _run_round(st.predictors, x, requests=n_req, duration_s=per_round_s, reporter=rep)
            st.peak_rss = max(st.peak_rss, peak_rss_mb())
            if out.latencies_ms:
                st.latencies.extend(out.latencies_ms)
                st.round_tput.append(out.images / out.wall_s)
                st.round_p50.append(float(np.percentile(out.latencies_ms, 50)))
                st.images += out.images
            done += 1
            rep.progress(done, total, "points")
    seconds = time.perf_counter() - t0

    results: dict[str, BenchResult] = {}
    for t in targets:
        mine = [st for st in states if st.target is t]
        rows = [_row(st) for st in mine]
        backend = str(getattr(mine[0].predictors[0], "backend", "")) if mine[0].predictors else ""
        size_mb = None
        if t.artifact_path and Path(t.artifact_path).is_file():
            size_mb = _artifact_mb(Path(t.artifact_path))
        results[t.label] = BenchResult(t.label, backend, (h, w), config, rows, seconds,
                                       t.artifact_path, size_mb, t.gmacs,
                                       fingerprint=_fingerprint())
    if baseline is not None:
        base = results[baseline]
        base_heads = base.headline()
        for res in results.values():
            res.baseline_label = baseline
            res.baseline_throughput = base_heads["throughput"][0]
            res.baseline_p50_ms = base_heads["p50_ms"][0]
            res.rows = [_with_vs(row, base.row(row.batch, row.streams, row.threads)) for row in res.rows]
    for res in results.values():
        for row in res.rows:
            rep.log(f"{res.label}: bs{row.batch} ×{row.streams} streams, {row.threads} threads: "
                    f"p50 {row.p50_ms:.2f} ms, p99 {row.p99_ms:.2f} ms, "
                    f"{row.throughput:.1f} img/s (±{100 * row.spread / 2:.0f}%)")
    return [results[t.label] for t in targets]


def _fingerprint() -> str:
    from workbench.hardware import fingerprint

    return fingerprint()


def _artifact_mb(path: Path) -> float:
    """A model's size on disk, counting ONNX external data and OpenVINO's .bin beside it."""
    size = path.stat().st_size
    if path.suffix == ".xml" and path.with_suffix(".bin").is_file():
        size += path.with_suffix(".bin").stat().st_size
    data = path.with_name(path.name + ".data")
    if data.is_file():
        size += data.stat().st_size
    return size / 2**20


def _with_vs(row: BenchRow, base: BenchRow | None) -> BenchRow:
    if base is None or base.throughput <= 0:
        return row
    return replace(row, vs_torch=row.throughput / base.throughput)


def _row(st: _PointState) -> BenchRow:
    p = st.point
    lat = np.asarray(st.latencies, dtype=np.float64)
    if lat.size == 0:  # cancelled before anything ran; the caller raised already
        raise BadInput(f"bench: no requests completed for bs{p.batch} ×{p.streams}")
    tput = statistics.median(st.round_tput)
    return BenchRow(
        batch=p.batch, streams=p.streams, threads=p.total_threads,
        threads_per_stream=p.threads_per_stream, requests=int(lat.size), images=st.images,
        p50_ms=float(np.percentile(lat, 50)), p90_ms=float(np.percentile(lat, 90)),
        p99_ms=float(np.percentile(lat, 99)), mean_ms=float(lat.mean()),
        min_ms=float(lat.min()), max_ms=float(lat.max()),
        throughput=tput, throughput_min=min(st.round_tput), throughput_max=max(st.round_tput),
        p50_min_ms=min(st.round_p50), p50_max_ms=max(st.round_p50),
        spread=(max(st.round_tput) - min(st.round_tput)) / tput if tput > 0 else 0.0,
        rounds=len(st.round_tput), peak_rss_mb=st.peak_rss, sessions_mb=st.sessions_mb,
        precision=str((st.runtime or {}).get("compute_precision", "")),
        limit_precision=str((st.runtime or {}).get("limit_precision", "")), runtime=st.runtime,
    )


def benchmark(factory: PredictorFactory, input_size: tuple[int, int], config: BenchConfig,
              reporter: Reporter | None = None, label: str = "model", *,
              artifact_path: str | Path = "", gmacs: float | None = None) -> BenchResult:
    """Measure one predictor factory over ``config``'s grid (see :func:`benchmark_targets`).

    ``factory(threads)`` must return a fresh predictor using that many intra-op threads;
    it is called once per stream of every (streams, threads) configuration.
    """
    target = BenchTarget(label, factory, str(artifact_path), gmacs)
    return benchmark_targets([target], input_size, config, reporter)[0]
