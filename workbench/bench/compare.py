"""Side by side: torch eager, ORT fp32, ORT int8, OpenVINO fp32 and OpenVINO int8 of one
variant, measured in one interleaved run, each figure also a ratio to torch eager and to
the machine's dense-sgemm limit. ``hrnet-wb bench --compare-backends`` and
``benchmarks/side_by_side.py`` both print this; the README's speed table comes from it.

Builds go through ``workbench.build.build_artifact`` (cached in ``<home>/artifacts``), the
model through ``workbench.sources`` and the export through ``workbench.export`` when those
modules are present; until they are, the fallbacks below do the same steps directly.
"""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.bench.baseline import BASELINE_LABEL, load_variant, torch_target
from workbench.bench.grid import BenchConfig, BenchResult, BenchTarget, benchmark_targets
from workbench.bench.roofline import MachineLimit, apply_roofline, machine_limit, onnx_gmacs
from workbench.errors import BadInput
from workbench.events import Reporter
from workbench.home import Home
from workbench.runtime import open_predictor

if TYPE_CHECKING:  # pragma: no cover
    import torch

# label -> (backend, dtype); the order is the table's order
TARGETS: dict[str, tuple[str, str]] = {
    BASELINE_LABEL: ("torch", "fp32"),
    "ort-fp32": ("ort-cpu", "fp32"),
    "ort-int8": ("ort-cpu", "int8"),
    "openvino-fp32": ("openvino-cpu", "fp32"),
    "openvino-int8": ("openvino-cpu", "int8"),
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
        return lim.gflops / (2.0 * self.gmacs) if lim and self.gmacs > 0 else None

    def markdown(self) -> str:
        """The README table: plain Markdown, with the machine and date under it."""
        def f(v: Any, spec: str) -> str:
            return "–" if v is None else format(v, spec)

        h, w = self.input_size
        lines = [
            f"{self.variant}, {h}×{w}, {self.gmacs:.2f} GMACs/image",
            "",
            "| build | bs1 p50 ms | p90 ms | p99 ms | best img/s | min–max | at | ×torch | "
            "×torch bs1 | GFLOP/s | ×limit |",
            "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
        ]
        for r in self.table():
            lines.append(
                f"| {r['target']} | {f(r['p50_ms'], '.1f')} | {f(r['p90_ms'], '.1f')} | "
                f"{f(r['p99_ms'], '.1f')} | {f(r['throughput'], '.1f')} | "
                f"{f(r['throughput_min'], '.1f')}–{f(r['throughput_max'], '.1f')} | "
                f"bs{r['best_batch']}×{r['best_streams']} | {f(r['vs_torch'], '.2f')} | "
                f"{f(r['vs_torch_latency'], '.2f')} | {f(r['gflops'], '.1f')} | "
                f"{f(r['vs_roofline'], '.2f')} |")
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


def _export(model: torch.nn.Module, variant: str, weights_id: str, input_size: tuple[int, int],
            home: Home, reporter: Reporter) -> Path:
    """The fp32 ONNX (opset 17, dynamic batch), cached under ``<home>/cache/exports``."""
    h, w = input_size
    key = hashlib.sha256(f"{weights_id}|17|True|{h}x{w}".encode()).hexdigest()[:12]
    out = home.cache / "exports" / f"{variant}-{h}x{w}-op17-{key}.onnx"
    if out.is_file():
        reporter.log(f"export: cache hit {out.name}")
        return out
    try:
        from workbench.export import export_onnx
    except ImportError:
        export_onnx = None  # type: ignore[assignment]
    if export_onnx is not None:
        return Path(export_onnx(model, out, input_size, opset=17, dynamic_batch=True,
                                reporter=reporter).path)
    import torch

    from workbench.atomic import atomic_path

    reporter.log(f"export: {variant} {h}x{w} → ONNX opset 17 (torch.onnx.export, legacy exporter)")
    with atomic_path(out, suffix=".onnx") as tmp, torch.inference_mode():
        torch.onnx.export(model, torch.zeros(1, 3, h, w), str(tmp), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return out


def _calibration_images(calibration: Path | None) -> list[Path]:
    if calibration is None:
        default = Path(__file__).resolve().parents[2] / "assets" / "val"
        if not default.is_dir():
            raise BadInput("int8 builds need calibration images: pass --calibration DIR")
        calibration = default
    if not calibration.exists():
        raise BadInput(f"{calibration}: calibration folder not found")
    exts = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
    files = sorted(p for p in calibration.rglob("*") if p.suffix.lower() in exts)
    if not files:
        raise BadInput(f"{calibration}: no images to calibrate with")
    return files


def _build(onnx_path: Path, backend: str, dtype: str, *, variant: str, weights_id: str,
           input_size: tuple[int, int], calib_files: list[Path], calib_count: int,
           method: str, home: Home, reporter: Reporter) -> tuple[str, str]:
    """(file, backend) for one build, through workbench.build when present."""
    try:
        from workbench.build import BuildRecipe, CalibrationSpec, build_artifact
    except ImportError:
        build_artifact = None  # type: ignore[assignment]
    if build_artifact is not None:
        samples = _samples(calib_files) if dtype == "int8" else None
        recipe = BuildRecipe(backend=backend, dtype=dtype,
                             calibration=CalibrationSpec(method=method, count=calib_count)
                             if dtype == "int8" else None)
        art = build_artifact(onnx_path, recipe, model_name=variant, input_size=input_size,
                             weights_id=weights_id,
                             export_settings={"opset": 17, "dynamic_batch": True},
                             calibration_samples=samples,
                             preprocessor=_preprocessor(variant, input_size),
                             home=home, reporter=reporter)
        return str(art.path), art.backend
    return _fallback_build(onnx_path, backend, dtype, input_size, calib_files[:calib_count],
                           home, reporter)


def _samples(files: list[Path]) -> list[Any]:
    try:
        from workbench.data import Sample
    except ImportError:
        from types import SimpleNamespace as Sample  # type: ignore[assignment]
    return [Sample(path=f, label=None, id=f.name) for f in files]


def _preprocessor(variant: str, input_size: tuple[int, int]) -> Any:
    try:
        from workbench.data.preprocess import Preprocessor, preset_for
    except ImportError:
        return _ImagePreprocess(input_size)
    return Preprocessor(preset_for(source="timm", variant=variant, pretrained_tag="",
                                   input_size=input_size, name="auto"))


class _ImagePreprocess:
    """TEMPORARY until workbench.data lands: resize the short side to size/0.875 (bilinear),
    centre-crop, ImageNet mean/std — timm's ``ms_in1k`` recipe (FACTS §2)."""

    def __init__(self, input_size: tuple[int, int]) -> None:
        self.size = input_size

    def load(self, path: Path) -> Any:
        import numpy as np
        from PIL import Image

        h, w = self.size
        with Image.open(path) as im:
            im = im.convert("RGB")
            short = int(round(min(h, w) / 0.875))
            scale = short / min(im.size)
            im = im.resize((max(w, round(im.width * scale)), max(h, round(im.height * scale))),
                           Image.BILINEAR)
            left, top = (im.width - w) // 2, (im.height - h) // 2
            im = im.crop((left, top, left + w, top + h))
            arr = np.asarray(im, dtype=np.float32) / 255.0
        mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
        std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
        return ((arr - mean) / std).transpose(2, 0, 1).copy()


def _fallback_build(onnx_path: Path, backend: str, dtype: str, input_size: tuple[int, int],
                    calib_files: list[Path], home: Home, reporter: Reporter) -> tuple[str, str]:
    """TEMPORARY until workbench.build lands. fp32: the export itself (ORT optimises at load
    time; OpenVINO reads ONNX). int8: ORT QDQ U8S8, per-channel, reduce_range (FACTS §5),
    which OpenVINO also reads and runs in u8."""
    if dtype == "fp32":
        return str(onnx_path), backend
    out = home.cache / "bench-int8" / f"{onnx_path.stem}-qdq-u8s8-minmax-{len(calib_files)}.onnx"
    if out.is_file():
        reporter.log(f"int8: cache hit {out.name}")
        return str(out), backend
    import tempfile

    import numpy as np
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from workbench.atomic import atomic_path

    prep = _ImagePreprocess(input_size)
    input_name = onnx.load(str(onnx_path), load_external_data=False).graph.input[0].name
    batches = [np.stack([prep.load(f)]) for f in calib_files]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(batches)

        def get_next(self) -> dict[str, Any] | None:
            reporter.check_cancelled()
            b = next(self.it, None)
            return None if b is None else {input_name: b}

    reporter.log(f"int8: QDQ U8S8 per-channel reduce_range, minmax on {len(batches)} images")
    with tempfile.TemporaryDirectory(dir=home.cache) as tmpdir:
        pre = Path(tmpdir) / "pre.onnx"
        quant_pre_process(str(onnx_path), str(pre), skip_symbolic_shape=True)
        with atomic_path(out, suffix=".onnx") as tmp:
            quantize_static(str(pre), str(tmp), Reader(), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            per_channel=True, reduce_range=True,
                            calibrate_method=CalibrationMethod.MinMax)
    return str(out), backend


# -- the run ---------------------------------------------------------------------------------


def prepare_targets(variant: str, input_size: tuple[int, int], home: Home, *,
                    weights: str = "random-init", include: Sequence[str] = tuple(TARGETS),
                    calibration: Path | None = None, calib_count: int = 8,
                    calib_method: str = "minmax",
                    reporter: Reporter | None = None) -> tuple[list[BenchTarget], float, dict[str, str]]:
    """Load, export and build what ``include`` asks for; return the bench targets, the
    model's GMACs and the file behind each target."""
    rep = reporter or Reporter()
    unknown = [t for t in include if t not in TARGETS]
    if unknown:
        raise BadInput(f"compare: unknown target(s) {unknown}; expected {list(TARGETS)}")
    import torch

    torch.manual_seed(0)
    model = load_variant(variant, weights)
    weights_id = weights if weights != "random-init" else f"random-init:{variant}:seed0"
    from workbench.bench.roofline import torch_gmacs

    gmacs = torch_gmacs(model, input_size)
    targets: list[BenchTarget] = []
    files: dict[str, str] = {}
    onnx_path: Path | None = None
    calib_files: list[Path] = []
    for label in include:
        rep.check_cancelled()
        backend, dtype = TARGETS[label]
        if backend == "torch":
            targets.append(torch_target(model, label, input_size, count_macs=False))
            continue
        if onnx_path is None:
            onnx_path = _export(model, variant, weights_id, input_size, home, rep)
        if dtype == "int8" and not calib_files:
            calib_files = _calibration_images(calibration)
        path, be = _build(onnx_path, backend, dtype, variant=variant, weights_id=weights_id,
                          input_size=input_size, calib_files=calib_files, calib_count=calib_count,
                          method=calib_method, home=home, reporter=rep)
        files[label] = path

        def factory(threads: int, p: str = path, b: str = be) -> Any:
            return open_predictor(p, b, threads)

        targets.append(BenchTarget(label, factory, path, gmacs))
    return targets, gmacs, files


def side_by_side(variant: str, input_size: tuple[int, int], home: Home, config: BenchConfig,
                 *, weights: str = "random-init", include: Sequence[str] = tuple(TARGETS),
                 calibration: Path | None = None, calib_count: int = 8,
                 reporter: Reporter | None = None) -> SideBySide:
    """Measure the five builds of ``variant`` in one interleaved run (see module doc)."""
    rep = reporter or Reporter()
    t0 = time.perf_counter()
    targets, gmacs, files = prepare_targets(variant, input_size, home, weights=weights,
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
                     "images, accuracy is not measured here)")
    for label, path in files.items():
        if path.endswith(".onnx") and TARGETS[label][1] == "int8":
            try:
                q = onnx_gmacs(path, input_size)
                if abs(q - gmacs) > 1e-3 * gmacs:
                    notes.append(f"{label}: graph counts {q:.3f} GMACs vs {gmacs:.3f} for the model")
            except BadInput:
                pass
    return SideBySide(
        variant=variant, input_size=input_size, results=results, machine=machine, gmacs=gmacs,
        artifacts=files, notes=notes, date=time.strftime("%Y-%m-%d %H:%M %Z"),
        host=_host(), seconds=time.perf_counter() - t0,
    )


def _total_threads(config: BenchConfig) -> list[int]:
    from workbench.runtime import resolve_threads

    return [resolve_threads(t) for t in config.threads]


def _host() -> str:
    from workbench.bench.roofline import cpu_name
    from workbench.runtime import physical_cores

    return f"{cpu_name()}, {physical_cores()} physical cores, {platform.system()} {platform.release()}"
