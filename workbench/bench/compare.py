"""Side by side: torch eager, ORT fp32, ORT int8, OpenVINO fp32 and OpenVINO int8 of one
variant, measured in one interleaved run, each figure also a ratio to torch eager and to
the machine's dense-sgemm limit. ``hrnet-wb bench --compare-backends`` and
``benchmarks/side_by_side.py`` both print this; the README's speed table comes from it.

The model comes from ``workbench.sources``, the export from ``workbench.export`` and every
build from ``workbench.build.build_artifact`` — the same calls the pipeline makes — so the
artifacts measured here are cached in ``<home>/artifacts`` and reusable by ``bench``/``eval``.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.backends import BASELINE_BACKEND, is_baseline, openvino_cpu, ort_cpu
from workbench.bench.baseline import BASELINE_LABEL, register_baseline, torch_target
from workbench.bench.grid import BenchConfig, BenchResult, BenchTarget, benchmark_targets
from workbench.bench.model import limit_img_s
from workbench.bench.roofline import (
    MachineLimit,
    apply_roofline,
    machine_limit,
    onnx_gmacs,
    variant_gmacs,
)
from workbench.bench.target import artifact_target
from workbench.errors import BadInput
from workbench.events import Reporter
from workbench.home import Home
from workbench.store import Run, Store
from workbench.tables import format_figure, markdown_table

if TYPE_CHECKING:  # pragma: no cover
    from workbench.sources import LoadedModel

# label -> (backend, dtype); the order is the table's order
TARGETS: dict[str, tuple[str, str]] = {
    BASELINE_LABEL: (BASELINE_BACKEND, "fp32"),
    "ort-fp32": (ort_cpu.NAME, "fp32"),
    "ort-int8": (ort_cpu.NAME, "int8"),
    "openvino-fp32": (openvino_cpu.NAME, "fp32"),
    "openvino-int8": (openvino_cpu.NAME, "int8"),
}


@dataclass
class SideBySide:
    """The measured table plus everything needed to reproduce and judge it."""

    variant: str
    input_size: tuple[int, int]
    results: list[BenchResult]
    machine: dict[int, MachineLimit]
    gmacs: float
    artifacts: dict[str, str] = field(default_factory=dict)  # label -> file measured
    built: dict[str, Any] = field(default_factory=dict)  # label -> workbench.build.Artifact
    loaded: Any = None  # workbench.sources.LoadedModel of the variant
    notes: list[str] = field(default_factory=list)
    date: str = ""
    host: str = ""
    seconds: float = 0.0

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
                "size_mb": res.artifact_mb, "peak_rss_mb": h["peak_rss_mb"][0],
                "sweet_spot": None if res.sweet_spot is None else {
                    "batch": res.sweet_spot.batch, "streams": res.sweet_spot.streams,
                    "throughput": res.sweet_spot.throughput, "p99_ms": res.sweet_spot.p99_ms},
            })
        return out

    def limit_img_s(self, threads: int) -> float | None:
        lim = self.machine.get(threads)
        return limit_img_s(lim.gflops if lim else None, self.gmacs)

    def markdown(self) -> str:
        """The README table: plain Markdown, with the machine and date under it."""
        def f(v: Any, spec: str) -> str:
            return format_figure(v, "{:" + spec + "}")

        h, w = self.input_size
        header = ["build", "bs1 p50 ms", "p90 ms", "p99 ms", "best img/s", "min–max", "at",
                  "×torch", "×torch bs1", "GFLOP/s", "×limit"]
        cells = [[r["target"], f(r["p50_ms"], ".1f"), f(r["p90_ms"], ".1f"), f(r["p99_ms"], ".1f"),
                  f(r["throughput"], ".1f"),
                  f"{f(r['throughput_min'], '.1f')}–{f(r['throughput_max'], '.1f')}",
                  f"bs{r['best_batch']}×{r['best_streams']}", f(r["vs_torch"], ".2f"),
                  f(r["vs_torch_latency"], ".2f"), f(r["gflops"], ".1f"), f(r["vs_roofline"], ".2f")]
                 for r in self.table()]
        lines = [f"{self.variant}, {h}×{w}, {self.gmacs:.2f} GMACs/image", "",
                 *markdown_table(header, cells, "lrrrrrlrrrr")]
        lines.append("")
        for t, m in sorted(self.machine.items()):
            lim = self.limit_img_s(t)
            lines.append(f"Machine limit ({t} threads): dense sgemm {m.gflops:.1f} GFLOP/s "
                         f"({m.library}, n={m.n}) → {f(lim, '.1f')} img/s for this model in fp32.")
        lines.append(f"Measured {self.date} on {self.host}; median of rounds, min–max beside it; "
                     "×torch = best throughput over torch eager's best; ×torch bs1 = bs1 p50 "
                     "speed-up; ×limit = achieved GFLOP/s over the sgemm rate.")
        lines.extend(f"Note: {n}" for n in self.notes)
        return "\n".join(lines) + "\n"

    def as_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant, "input_size": list(self.input_size), "gmacs": self.gmacs,
            "date": self.date, "host": self.host, "seconds": round(self.seconds, 1),
            "machine": {str(t): m.as_dict() for t, m in self.machine.items()},
            "limit_img_s": {str(t): self.limit_img_s(t) for t in self.machine},
            "table": self.table(), "artifacts": self.artifacts, "notes": self.notes,
            "results": [r.as_dict() for r in self.results],
        }


# -- preparing the five targets -------------------------------------------------------------


def _export(loaded: LoadedModel, input_size: tuple[int, int], home: Home,
            reporter: Reporter) -> Path:
    """The fp32 ONNX (opset 17, dynamic batch, parity-checked), cached under
    ``<home>/cache/exports`` with the pipeline's naming."""
    from workbench.export import export_cache_path, export_onnx

    out = export_cache_path(home.cache, loaded.variant, loaded.weights_id, 17, True, input_size)
    if out.is_file():
        reporter.log(f"export: cache hit {out.name}")
        return out
    import numpy as np

    from workbench.export import default_parity_inputs, torch_logits

    # Random-init HRNets give logits in the millions (BN with untrained statistics), where
    # float32 rounding alone exceeds an absolute 1e-4; gate relative to the logits' scale.
    x = default_parity_inputs(4, input_size)
    scale = float(np.max(np.abs(torch_logits(loaded.model, x))))
    tolerance = max(1e-4, 1e-5 * scale)
    if tolerance > 1e-4:
        reporter.log(f"export: logits reach {scale:.3g}; parity tolerance {tolerance:.3g} "
                     "(1e-5 of that)")
    return Path(export_onnx(loaded.model, out, input_size, opset=17, dynamic_batch=True,
                            parity_inputs=x, tolerance=tolerance, reporter=reporter).path)


def _calibration_samples(calibration: Path | None) -> list[Any]:
    """Calibration images through workbench.data (any layout it reads); the bundled demo
    images of a source checkout when none are given."""
    from workbench.data import open_dataset

    if calibration is None:
        default = Path(__file__).resolve().parents[2] / "assets"
        if not (default / "val").is_dir():
            raise BadInput("int8 builds need calibration images: pass --calibration DIR")
        calibration = default
    if not calibration.exists():
        raise BadInput(f"{calibration}: calibration folder not found")
    samples = open_dataset(calibration).samples
    if not samples:
        raise BadInput(f"{calibration}: no images to calibrate with")
    return list(samples)


def _build(onnx_path: Path, backend: str, dtype: str, *, loaded: LoadedModel,
           input_size: tuple[int, int], calib_samples: list[Any], calib_count: int,
           method: str, home: Home, reporter: Reporter) -> Any:
    """One artifact through workbench.build (content-keyed, cached in ``<home>/artifacts``)."""
    from workbench.build import BuildRecipe, CalibrationSpec, build_artifact
    from workbench.data.preprocess import Preprocessor, preset_for

    recipe = BuildRecipe(backend=backend, dtype=dtype,
                         calibration=CalibrationSpec(method=method, count=calib_count)
                         if dtype == "int8" else None)
    prep = Preprocessor(preset_for(source=loaded.source, variant=loaded.variant,
                                   pretrained_tag=loaded.pretrained_tag, input_size=input_size))
    return build_artifact(onnx_path, recipe, model_name=loaded.variant, input_size=input_size,
                          weights_id=loaded.weights_id,
                          export_settings={"opset": 17, "dynamic_batch": True},
                          calibration_samples=calib_samples if dtype == "int8" else None,
                          preprocessor=prep, home=home, reporter=reporter,
                          source=loaded.source, weights=loaded.weights)


# -- the run ---------------------------------------------------------------------------------


def prepare_targets(variant: str, input_size: tuple[int, int], home: Home, *,
                    weights: str = "random-init", include: Sequence[str] = tuple(TARGETS),
                    calibration: Path | None = None, calib_count: int = 8,
                    calib_method: str = "minmax", reporter: Reporter | None = None,
                    ) -> tuple[list[BenchTarget], float, dict[str, Any], LoadedModel]:
    """Load, export and build what ``include`` asks for; return the bench targets, the
    model's GMACs and the artifact behind each non-torch target."""
    from workbench.sources import ModelSpec, load_model

    rep = reporter or Reporter()
    unknown = [t for t in include if t not in TARGETS]
    if unknown:
        raise BadInput(f"compare: unknown target(s) {unknown}; expected {', '.join(TARGETS)}")
    loaded = load_model(ModelSpec(source="timm", variant=variant, weights=weights), rep)
    gmacs = variant_gmacs(loaded.variant, input_size)
    targets: list[BenchTarget] = []
    arts: dict[str, Any] = {}
    onnx_path: Path | None = None
    calib: list[Any] = []
    for label in include:
        rep.check_cancelled()
        backend, dtype = TARGETS[label]
        if is_baseline(backend):
            targets.append(torch_target(loaded.model, label, input_size, count_macs=False))
            continue
        if onnx_path is None:
            onnx_path = _export(loaded, input_size, home, rep)
        if dtype == "int8" and not calib:
            calib = _calibration_samples(calibration)
        art = _build(onnx_path, backend, dtype, loaded=loaded, input_size=input_size,
                     calib_samples=calib, calib_count=calib_count, method=calib_method,
                     home=home, reporter=rep)
        arts[label] = art
        targets.append(artifact_target(label, art.path, art.backend, gmacs))
    return targets, gmacs, arts, loaded


def side_by_side(variant: str, input_size: tuple[int, int], home: Home, config: BenchConfig,
                 *, weights: str = "random-init", include: Sequence[str] = tuple(TARGETS),
                 calibration: Path | None = None, calib_count: int = 8,
                 reporter: Reporter | None = None) -> SideBySide:
    """Measure the five builds of ``variant`` in one interleaved run (see module doc)."""
    rep = reporter or Reporter()
    t0 = time.perf_counter()
    targets, gmacs, arts, loaded = prepare_targets(variant, input_size, home, weights=weights,
                                           include=include, calibration=calibration,
                                           calib_count=calib_count, reporter=rep)
    threads = sorted({p for p in _total_threads(config)})
    machine = {t: machine_limit(home.cache, t, reporter=rep) for t in threads}
    baseline = BASELINE_LABEL if BASELINE_LABEL in [t.label for t in targets] else None
    results = benchmark_targets(targets, input_size, config, rep, baseline=baseline)
    rates = {t: m.gflops for t, m in machine.items()}
    for res in results:
        apply_roofline(res, gmacs, rates)
    notes = []
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
        host=_host(), seconds=time.perf_counter() - t0,
    )


def _total_threads(config: BenchConfig) -> list[int]:
    from workbench.runtime import resolve_threads

    return [resolve_threads(t) for t in config.threads]


def _host() -> str:
    from workbench.bench.roofline import cpu_name
    from workbench.runtime import physical_cores

    return f"{cpu_name()}, {physical_cores()} physical cores, {platform.system()} {platform.release()}"


def compare_backends(variant: str, input_size: tuple[int, int], home: Home, config: BenchConfig,
                     *, record: bool = True, reporter: Reporter | None = None,
                     **kwargs: Any) -> tuple[int | None, SideBySide]:
    """``hrnet-wb bench --compare-backends``: :func:`side_by_side`, recorded as one run
    (started before the builds, so a failure is on record too) unless ``record`` is off."""
    rep = reporter or Reporter()
    if not record:
        return None, side_by_side(variant, input_size, home, config, reporter=rep, **kwargs)
    store = Store(home.db)
    with store.run(f"bench --compare-backends {variant}", cancelled=lambda: rep.cancelled) as run:
        sbs = side_by_side(variant, input_size, home, config, reporter=rep, **kwargs)
        record_side_by_side(run, sbs)
    return run.id, sbs


def record_side_by_side(run: Run, sbs: SideBySide) -> None:
    """Into ``run``: the artifacts (so the leaderboard joins their build config), every
    target's grid points and headline figures, and the table as the run's summary."""
    from workbench.bench.record import record_result

    store = run.store
    h, w = sbs.input_size
    for art in sbs.built.values():
        meta = dict(art.meta)
        calib = art.calibration.method if art.calibration is not None else ""
        store.add_artifact(art.key, art.name, "artifact", str(art.path),
                           source=str(meta.get("source", "")), variant=sbs.variant,
                           weights=str(meta.get("weights", "")), backend=art.backend,
                           dtype=art.dtype, calibration=calib, input_size=f"{h}x{w}", meta=meta)
    for res in sbs.results:
        art = sbs.built.get(res.label)
        if art is None and res.label == BASELINE_LABEL and sbs.loaded is not None:
            record_result(store, run.id, res, register_baseline(store, sbs.loaded, sbs.input_size))
        elif art is None:
            record_result(store, run.id, res)
        else:
            record_result(store, run.id, res, art.key, build=art.name)
    run.summary = {"table": sbs.table(), "variant": sbs.variant,
                   "machine": {str(t): m.as_dict() for t, m in sbs.machine.items()}}
