"""Side by side: torch eager, ORT fp32, ORT int8, OpenVINO fp32 and OpenVINO int8 of one
variant, measured in one interleaved run, each figure also a ratio to torch eager and to
the machine's dense-sgemm limit. ``hrnet-wb bench --compare-backends`` and
``benchmarks/side_by_side.py`` both print this; the README's speed table comes from it.

The targets are built by the pipeline's own stages (:mod:`workbench.side_by_side`), so the
artifacts measured here are cached in ``<home>/artifacts`` and reusable by ``bench``/``eval``;
this module measures them and lays out the table.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.backends import SIDE_BY_SIDE
from workbench.bench.baseline import BASELINE_LABEL, register_baseline
from workbench.bench.grid import BenchConfig, BenchResult, BenchTarget, benchmark_targets
from workbench.bench.limits import PrecisionLimit, apply_limits, limits_for
from workbench.bench.model import limit_img_s
from workbench.bench.roofline import onnx_gmacs
from workbench.errors import BadInput
from workbench.events import Reporter
from workbench.home import Home
from workbench.store import PendingWrites, Run
from workbench.tables import format_figure, markdown_table

if TYPE_CHECKING:  # pragma: no cover
    from workbench.sources import LoadedModel

# label -> (backend, dtype); the order is the table's order (the backends declare it)
TARGETS: dict[str, tuple[str, str]] = SIDE_BY_SIDE
assert BASELINE_LABEL in TARGETS


@dataclass
class SideBySide:
    """The measured table plus everything needed to reproduce and judge it."""

    variant: str
    input_size: tuple[int, int]
    results: list[BenchResult]
    machine: dict[int, PrecisionLimit]  # threads -> fp32 limit
    gmacs: float
    artifacts: dict[str, str] = field(default_factory=dict)  # label -> file measured
    built: dict[str, Any] = field(default_factory=dict)  # label -> workbench.build.Artifact
    loaded: Any = None  # workbench.sources.LoadedModel of the variant
    notes: list[str] = field(default_factory=list)
    date: str = ""
    host: str = ""
    seconds: float = 0.0
    limits: dict[int, dict[str, PrecisionLimit]] = field(default_factory=dict)
    fingerprint: str = ""
    writes: PendingWrites = field(default_factory=PendingWrites)  # the build stage's store rows

    def table(self) -> list[dict[str, Any]]:
        """One row per target: bs1 latency, best throughput, and the ratios."""
        out = []
        for res in self.results:
            h = res.headline()
            backend, dtype = TARGETS.get(res.label, (res.backend, ""))
            best = max(res.rows, key=lambda r: r.throughput)
            out.append({
                "target": res.label, "backend": backend, "dtype": dtype,
                "p50_ms": h["p50_ms"][0], "p90_ms": h["p90_ms"][0], "p99_ms": h["p99_ms"][0],
                "throughput": best.throughput, "throughput_min": best.throughput_min,
                "throughput_max": best.throughput_max, "best_batch": best.batch,
                "best_streams": best.streams, "threads": best.threads,
                "vs_torch": h.get("vs_torch", (None, ""))[0],
                "vs_torch_latency": h.get("vs_torch_latency", (None, ""))[0],
                "gflops": best.gflops, "vs_roofline": best.vs_roofline,
                "precision": best.precision, "limit_precision": best.limit_precision,
                "limit_flag": best.limit_flag, "runtime": best.runtime,
                "size_mb": res.artifact_mb, "peak_rss_mb": h["peak_rss_mb"][0],
                "sweet_spot": None if res.sweet_spot is None else {
                    "batch": res.sweet_spot.batch, "streams": res.sweet_spot.streams,
                    "throughput": res.sweet_spot.throughput, "p99_ms": res.sweet_spot.p99_ms},
            })
        return out

    def limit_img_s(self, threads: int, precision: str = "fp32") -> float | None:
        lim = self.limits.get(threads, {}).get(precision) or (
            self.machine.get(threads) if precision == "fp32" else None)
        return limit_img_s(lim.gflops if lim else None, self.gmacs)

    def markdown(self) -> str:
        """The README table: plain Markdown, with the machine and date under it."""
        def f(v: Any, spec: str) -> str:
            return format_figure(v, "{:" + spec + "}")

        h, w = self.input_size
        header = ["build", "ran as", "bs1 p50 ms", "p90 ms", "p99 ms", "best img/s", "min–max",
                  "at", "×torch", "×torch bs1", "GOP/s", "×limit"]
        flags: list[str] = []
        cells = []
        for r in self.table():
            lim = f(r["vs_roofline"], ".2f")
            if r["vs_roofline"] is not None:
                lim += f" ({r['limit_precision']})"
            if r["limit_flag"]:
                if r["limit_flag"] not in flags:
                    flags.append(r["limit_flag"])
                lim += " " + "!" * (flags.index(r["limit_flag"]) + 1)
            cells.append([r["target"], r["precision"] or "–", f(r["p50_ms"], ".1f"),
                          f(r["p90_ms"], ".1f"), f(r["p99_ms"], ".1f"), f(r["throughput"], ".1f"),
                          f"{f(r['throughput_min'], '.1f')}–{f(r['throughput_max'], '.1f')}",
                          f"bs{r['best_batch']}×{r['best_streams']}", f(r["vs_torch"], ".2f"),
                          f(r["vs_torch_latency"], ".2f"), f(r["gflops"], ".1f"), lim])
        lines = [f"{self.variant}, {h}×{w}, {self.gmacs:.2f} GMACs/image", "",
                 *markdown_table(header, cells, "llrrrrrlrrrr")]
        lines.append("")
        for t, by in sorted(self.limits.items()):
            for prec, m in by.items():
                img_s = self.limit_img_s(t, prec)
                state = ("cached quiet probe" if m.cached else "quiet probe" if m.quiet
                         else "NOISY probe, not cached")
                lines.append(f"Machine limit {prec} ({t} threads): dense GEMM {m.gops:.1f} GOP/s "
                             f"({m.runtime}, n={m.n}, {state}) → {f(img_s, '.1f')} img/s for this "
                             f"model in {prec}.")
        lines.append(f"Measured {self.date} on {self.host} (CPU {self.fingerprint}); median of "
                     "rounds, min–max beside it; ran as = the precision the runtime reports "
                     "its convolutions ran in; ×torch = best throughput over torch eager's best; "
                     "×torch bs1 = bs1 p50 speed-up; ×limit = achieved GOP/s over the dense "
                     "GEMM peak of that precision.")
        lines.extend(f"{'!' * (i + 1)} {fl}" for i, fl in enumerate(flags))
        lines.extend(f"Note: {n}" for n in self.notes)
        return "\n".join(lines) + "\n"

    def as_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant, "input_size": list(self.input_size), "gmacs": self.gmacs,
            "date": self.date, "host": self.host, "seconds": round(self.seconds, 1),
            "machine": {str(t): m.as_dict() for t, m in self.machine.items()},
            "limits": {str(t): {p: m.as_dict() for p, m in by.items()}
                       for t, by in self.limits.items()},
            "limit_img_s": {str(t): {p: self.limit_img_s(t, p) for p in by}
                            for t, by in self.limits.items()},
            "fingerprint": self.fingerprint,
            "table": self.table(), "artifacts": self.artifacts, "notes": self.notes,
            "results": [r.as_dict() for r in self.results],
        }


# -- measuring the prepared targets ------------------------------------------------------------


def measure_side_by_side(variant: str, input_size: tuple[int, int], home: Home, config: BenchConfig,
                         targets: list[BenchTarget], gmacs: float, arts: dict[str, Any],
                         loaded: LoadedModel, *, weights: str, include: Sequence[str],
                         reporter: Reporter, started: float) -> SideBySide:
    """Measure prepared targets (:func:`workbench.side_by_side.side_by_side` builds them
    through the pipeline's stages) in one interleaved run, on the machine's limits."""
    rep = reporter
    limits = limits_for(home.cache, list(config.threads), reporter=rep)
    machine = {t: by["fp32"] for t, by in limits.items() if "fp32" in by}
    baseline = BASELINE_LABEL if BASELINE_LABEL in [t.label for t in targets] else None
    results = benchmark_targets(targets, input_size, config, rep, baseline=baseline)
    for res in results:
        apply_limits(res, gmacs, limits)
    notes = [f"{label} skipped: {why}" for label, why in skipped_targets(include).items()]
    if weights == "random-init":
        notes.append("random-init weights: speed only (int8 scales come from the calibration "
                     "images; accuracy is not measured here)")
    for label, art in arts.items():
        if Path(art.path).suffix == ".onnx" and TARGETS[label][1] == "int8":
            try:
                q = onnx_gmacs(art.path, input_size)
            except BadInput:
                continue
            if abs(q - gmacs) > 1e-3 * gmacs:
                notes.append(f"{label}: graph counts {q:.3f} GMACs vs {gmacs:.3f} for the model")
    return SideBySide(
        variant=variant, input_size=input_size, results=results, machine=machine, gmacs=gmacs,
        artifacts={k: str(a.path) for k, a in arts.items()},
        built=arts, loaded=loaded, notes=notes, date=time.strftime("%Y-%m-%d %H:%M %Z"),
        host=_host(), seconds=time.perf_counter() - started, limits=limits,
        fingerprint=_fingerprint(),
    )


def skipped_targets(include: Sequence[str]) -> dict[str, str]:
    """Targets this machine cannot run, with the reason (bf16 without AVX512-BF16/AMX)."""
    from workbench.hardware import bf16_support

    out: dict[str, str] = {}
    if any(TARGETS[t][1] == "bf16" for t in include if t in TARGETS):
        ok, why = bf16_support()
        if not ok:
            out.update({t: why for t in include if TARGETS.get(t, ("", ""))[1] == "bf16"})
    return out


def _fingerprint() -> str:
    from workbench.hardware import fingerprint

    return fingerprint()


def _host() -> str:
    from workbench.hardware import detect_cpu

    return f"{detect_cpu().summary()}, {platform.system()} {platform.release()}"


def record_side_by_side(run: Run, sbs: SideBySide) -> None:
    """Into ``run``: what the build stage wrote (the artifacts, so the leaderboard joins
    their build config), every target's grid points and headline figures, and the table as
    the run's summary."""
    from workbench.bench.record import record_result

    store = run.store
    sbs.writes.replay(store, run.id)
    for res in sbs.results:
        art = sbs.built.get(res.label)
        if art is None and res.label == BASELINE_LABEL and sbs.loaded is not None:
            record_result(store, run.id, res, register_baseline(store, sbs.loaded, sbs.input_size))
        elif art is None:
            record_result(store, run.id, res)
        else:
            record_result(store, run.id, res, art.key, build=art.name)
    run.summary = {"table": sbs.table(), "variant": sbs.variant,
                   "machine": {str(t): m.as_dict() for t, m in sbs.machine.items()},
                   "limits": sbs.as_dict()["limits"]}
