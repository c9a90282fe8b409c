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
from workbench.bench.limits import PrecisionLimit, apply_limits, limits_for
from workbench.bench.model import limit_img_s
from workbench.bench.roofline import onnx_gmacs, variant_gmacs
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
    "openvino-bf16": (openvino_cpu.NAME, "bf16"),
    "openvino-int8": (openvino_cpu.NAME, "int8"),
}


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
                          source=loaded.source, weights=loaded.weights, model=loaded.model)


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
    skipped = skipped_targets([t for t in include if t in TARGETS])
    include = [t for t in include if t not in skipped]
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
        host=_host(), seconds=time.perf_counter() - t0, limits=limits,
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
                   "machine": {str(t): m.as_dict() for t, m in sbs.machine.items()},
                   "limits": sbs.as_dict()["limits"]}
