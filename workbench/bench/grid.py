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

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from workbench.backends.base import DeviceOutOfMemory
from workbench.bench.model import (
    BenchConfig,
    BenchResult,
    BenchRow,
    BenchTarget,
    GridPoint,
    GroupFactory,
    PredictorFactory,
    sweet_spot,
)
from workbench.bench.probes import current_rss_mb, peak_rss_mb, reset_peak_rss
from workbench.bench.runner import _prepare, _run_round
from workbench.errors import BadInput
from workbench.events import Reporter
from workbench.runtime import Predictor
from workbench.tables import format_percent

__all__ = [
    "BenchConfig", "BenchResult", "BenchRow", "BenchTarget", "GridPoint", "GroupFactory",
    "PredictorFactory", "benchmark", "benchmark_targets", "current_rss_mb", "grid_points",
    "peak_rss_mb", "reset_peak_rss", "sweet_spot",
]


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
    device_peak: float | None = None
    skipped: str = ""  # why this point is not measured (out of device memory, ...)


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
    on_gpu: set[str] = set()  # targets whose predictors run on a GPU: threads are no axis
    total = rounds * len(states)
    done = 0
    t0 = time.perf_counter()
    rep.log(f"bench: {len(targets)} target(s) × {len(points)} grid point(s) × {rounds} round(s), "
            f"input {h}x{w}")
    rep.progress(0, total, "points")  # the count is known before the first (slowest) point
    for r in range(rounds):
        for st in states:
            rep.check_cancelled()
            p = st.point
            if st.skipped or (st.target.label in on_gpu and p.threads != config.threads[0]):
                done += 1
                continue
            static = st.target.group_factory is not None
            skey = (st.target.label, p.streams, p.total_threads, p.batch if static else 0)
            x = inputs[p.batch]
            try:
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
                if any(getattr(q, "on_gpu", False) for q in st.predictors):
                    on_gpu.add(st.target.label)
                reset_peak_rss()
                for q in st.predictors:
                    getattr(q, "reset_device_peak", lambda: None)()
                n_req = max(p.streams, per_round[r]) if per_round else None
                out = _run_round(st.predictors, x, requests=n_req, duration_s=per_round_s, reporter=rep)
                st.peak_rss = max(st.peak_rss, peak_rss_mb())
                dev = [getattr(q, "device_peak_mb", lambda: None)() for q in st.predictors]
                if any(d is not None for d in dev):
                    st.device_peak = max([st.device_peak or 0.0] + [d for d in dev if d is not None])
                if out.latencies_ms:
                    st.latencies.extend(out.latencies_ms)
                    st.round_tput.append(out.images / out.wall_s)
                    st.round_p50.append(float(np.percentile(out.latencies_ms, 50)))
                    st.images += out.images
            except DeviceOutOfMemory as exc:  # one line; the grid goes on with the others
                st.skipped = str(exc)
                rep.log(f"{st.target.label}: bs{p.batch} ×{p.streams}: {exc}; this point is "
                        "skipped, the grid goes on", "warning")
                for pred in sessions.pop(skey, []):
                    getattr(pred, "close", lambda: None)()
            done += 1
            rep.progress(done, total, "points")
    seconds = time.perf_counter() - t0

    results: dict[str, BenchResult] = {}
    for t in targets:
        mine = [st for st in states if st.target is t]
        ran = [st for st in mine if st.latencies]
        skipped = [f"bs{st.point.batch} ×{st.point.streams}: {st.skipped}" for st in mine if st.skipped]
        if not ran:
            raise BadInput(f"bench {t.label}: no grid point could run ({'; '.join(skipped)})")
        rows = [_row(st) for st in ran]
        backend = str(getattr(ran[0].predictors[0], "backend", "")) if ran[0].predictors else ""
        size_mb = None
        if t.artifact_path and Path(t.artifact_path).is_file():
            size_mb = _artifact_mb(Path(t.artifact_path))
        gpu = ((ran[0].runtime or {}).get("details") or {}).get("gpu") or {}
        fp = _fingerprint() + (f"+{gpu['fingerprint']}" if gpu.get("fingerprint") else "")
        results[t.label] = BenchResult(t.label, backend, (h, w), config, rows, seconds,
                                       t.artifact_path, size_mb, t.gmacs, fingerprint=fp,
                                       skipped=skipped)
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
                    f"{row.throughput:.1f} img/s (±{format_percent(row.spread / 2, '{:.0f}')}%)")
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
        device_peak_mb=st.device_peak,
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
