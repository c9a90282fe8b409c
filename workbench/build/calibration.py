"""Calibration: which images, and the activation ranges they give.

Two halves:

* :func:`select_calibration` picks a class-balanced, seeded subset of a dataset and
  records it as a manifest whose hash goes into the artifact key. The pipeline removes
  these ids from evaluation, so an int8 model is never scored on the images that set
  its ranges (the VastAI flow calibrates on val itself; that inflates int8 accuracy).
* :func:`compute_ranges` runs ONNX Runtime's own calibrators (MinMax, Entropy,
  Percentile) but feeds them in bounded chunks. ORT's histogram calibrators hold every
  intermediate output of every image they were given in RAM before histogramming
  (about 65 MB per 224² image on hrnet_w18), so one ``collect_data`` call on 1000 images
  would need tens of GiB. Calling ``collect_data`` once per chunk keeps the peak at one
  chunk's activations; the histograms and min/max ranges merge across calls.
  The resulting ranges are cached on disk, so the ORT and OpenVINO int8 builds, and every
  step of an accuracy-budget search, reuse one calibration pass.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from workbench.data.identity import content_hash
from workbench.errors import BadInput
from workbench.events import Reporter

METHODS = ("minmax", "entropy", "percentile")
ENTROPY_BINS = 512

#: Held activations per ``collect_data`` call. With hrnet_w18 at 224² (~65 MB per image)
#: this is ~12 images per chunk; ORT then makes one more transient copy per tensor.
DEFAULT_CHUNK_BYTES = 768 * 2**20


class SampleLike(Protocol):
    path: Path
    label: int | None
    id: str


class ImageLoader(Protocol):
    def load(self, path: Path) -> np.ndarray: ...


@dataclass(frozen=True)
class CalibrationSpec:
    """How to calibrate: method, image count, percentile (for ``percentile``), seed."""

    method: str = "percentile"
    count: int = 1000
    percentile: float = 99.999
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise BadInput(f"calibration method {self.method!r}: expected one of {', '.join(METHODS)}")
        if self.count < 1:
            raise BadInput(f"calibration count {self.count}: must be at least 1")
        if not 0 < self.percentile <= 100:
            raise BadInput(f"calibration percentile {self.percentile}: must be in (0, 100]")

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"method": self.method, "count": self.count, "seed": self.seed}
        if self.method == "percentile":
            d["percentile"] = self.percentile
        return d


@dataclass
class CalibrationSet:
    """The chosen images plus a manifest; ``manifest_hash`` identifies the selection."""

    samples: list[Any]
    seed: int
    requested: int
    manifest: list[dict[str, Any]] = field(default_factory=list)
    manifest_hash: str = ""

    @property
    def ids(self) -> set[str]:
        return {s.id for s in self.samples}

    def per_class(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.samples:
            k = "none" if s.label is None else str(s.label)
            counts[k] = counts.get(k, 0) + 1
        return counts

    def manifest_text(self) -> str:
        """One ``id<TAB>label<TAB>path<TAB>sha256`` line per image, in manifest order. The
        content hash lets ``eval`` leave these images out under any layout."""
        return "".join(f"{m['id']}\t{'' if m['label'] is None else m['label']}\t{m['path']}"
                       f"\t{m.get('sha256', '')}\n" for m in self.manifest)


def _manifest_entry(s: Any) -> dict[str, Any]:
    p = Path(s.path)
    try:
        size = p.stat().st_size
    except OSError:
        size = -1
    return {"id": str(s.id), "label": s.label, "path": str(p), "file": p.name, "bytes": size,
            "sha256": content_hash(p)}


def manifest_hash(manifest: Sequence[dict[str, Any]]) -> str:
    """Hash of what identifies the images: id, label, file name and size, not the absolute
    path, so the same set copied to another disk hashes the same. (The per-image content
    hash is recorded beside it but left out here, so existing artifact keys stay valid.)"""
    h = hashlib.sha256()
    for m in manifest:
        h.update(f"{m['id']}\t{m['label']}\t{m['file']}\t{m['bytes']}\n".encode())
    return h.hexdigest()


def select_calibration(samples: Sequence[Any], count: int = 1000, seed: int = 0) -> CalibrationSet:
    """Pick up to ``count`` images, as evenly as possible across classes, reproducibly.

    Every class gets ``count // classes`` images (or all it has); leftover slots go round-robin
    to classes that still have images, in a seeded order. The result does not depend on the
    order of ``samples``. Unlabelled images form one group.
    """
    if count < 1:
        raise BadInput(f"calibration count {count}: must be at least 1")
    if not samples:
        raise BadInput("calibration needs images, but the dataset is empty")
    rng = random.Random(seed)
    groups: dict[Any, list[Any]] = {}
    for s in sorted(samples, key=lambda s: str(s.id)):
        groups.setdefault(s.label if s.label is not None else "__none__", []).append(s)
    keys = sorted(groups, key=str)
    for k in keys:
        rng.shuffle(groups[k])
    rng.shuffle(keys)
    chosen: list[Any] = []
    cursor = dict.fromkeys(keys, 0)
    target = min(count, len(samples))
    while len(chosen) < target:
        for k in keys:
            if len(chosen) >= target:
                break
            i = cursor[k]
            if i < len(groups[k]):
                chosen.append(groups[k][i])
                cursor[k] = i + 1
    chosen.sort(key=lambda s: str(s.id))
    manifest = [_manifest_entry(s) for s in chosen]
    return CalibrationSet(samples=chosen, seed=seed, requested=count, manifest=manifest,
                          manifest_hash=manifest_hash(manifest))


# -- images -> arrays -------------------------------------------------------------------


class FallbackLoader:
    """ImageNet-style loading (short side to size/0.875, centre crop, mean/std) used only
    when the caller passes no preprocessor, e.g. ``hrnet-wb build`` without a data preset."""

    MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)[:, None, None]
    STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)[:, None, None]

    def __init__(self, input_size: tuple[int, int]) -> None:
        self.input_size = input_size

    def load(self, path: Path) -> np.ndarray:
        from PIL import Image

        h, w = self.input_size
        with Image.open(path) as src:
            im = src.convert("RGB")
        short = round(min(h, w) / 0.875)
        scale = short / min(im.size)
        im = im.resize((max(w, round(im.width * scale)), max(h, round(im.height * scale))),
                       Image.Resampling.BILINEAR)
        left, top = (im.width - w) // 2, (im.height - h) // 2
        im = im.crop((left, top, left + w, top + h))
        arr = np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255.0
        return (arr - self.MEAN) / self.STD

    def describe(self) -> dict[str, Any]:
        return {"loader": "fallback-imagenet", "crop_pct": 0.875, "input_size": list(self.input_size)}


def describe_preprocessor(pre: Any) -> Any:
    """A JSON-able description of a preprocessor, for cache keys: ranges depend on it."""
    if pre is None:
        return None
    if hasattr(pre, "describe"):
        return pre.describe()
    cfg = getattr(pre, "cfg", None)
    if cfg is not None:
        if hasattr(cfg, "model_dump"):
            return cfg.model_dump(mode="json")
        import dataclasses

        if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
            return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))
        return repr(cfg)
    return type(pre).__name__


def iter_batches(samples: Sequence[Any], loader: ImageLoader, batch_size: int,
                 reporter: Reporter | None = None) -> Iterator[tuple[list[Any], np.ndarray]]:
    """Decode ``samples`` into float32 NCHW batches, skipping (and logging) files that fail."""
    buf: list[np.ndarray] = []
    kept: list[Any] = []
    for s in samples:
        if reporter is not None:
            reporter.check_cancelled()
        try:
            arr = loader.load(Path(s.path))
        except Exception as exc:  # a DecodeError from workbench.data, or PIL's own errors
            if reporter is not None:
                reporter.log(f"skipped {s.path}: {exc}", "warning")
            continue
        buf.append(np.asarray(arr, dtype=np.float32))
        kept.append(s)
        if len(buf) == batch_size:
            yield kept, np.stack(buf)
            buf, kept = [], []
    if buf:
        yield kept, np.stack(buf)


class _ListReader:
    """An ORT ``CalibrationDataReader`` yielding one chunk as a single batch.

    ORT's histogram collectors stack the outputs of all batches of a ``collect_data`` call
    with ``np.asarray``, which fails when the last batch is shorter; one batch per call
    avoids that and costs nothing (the chunk is held in memory either way).
    """

    def __init__(self, input_name: str, batches: list[np.ndarray]) -> None:
        self._it = iter([{input_name: np.concatenate(batches)}] if batches else [])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item


@dataclass
class RangeResult:
    """Where the ranges were written, and how they were obtained."""

    path: Path
    images: int
    skipped: int
    seconds: float
    cached: bool
    chunk_images: int


def _ort_method(method: str) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile}[method]


def _calibrator_options(spec: CalibrationSpec, symmetric: bool) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if spec.method == "percentile":
        opts["percentile"] = spec.percentile
        # ORT's percentile default is symmetric (|x| histogram); its min clamp then keeps
        # post-ReLU ranges at [0, t]. Keep that default unless a symmetric build needs it.
        opts["symmetric"] = True
    elif symmetric:
        opts["symmetric"] = True
    if spec.method == "entropy":
        # ORT's default (128 bins = 128 quantized bins) leaves its KL search one candidate,
        # i.e. min/max. More bins give it a real search; see entropy_threshold for speed.
        opts["num_bins"] = ENTROPY_BINS
    return opts


def op_types_to_quantize() -> list[str]:
    """The op types ORT's QDQ quantizer handles; calibrating only these saves time and RAM."""
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    return sorted(set(QLinearOpsRegistry) | set(QDQRegistry))


def compute_ranges(model_path: Path, spec: CalibrationSpec, calib: CalibrationSet,
                   loader: ImageLoader, out_path: Path, *, symmetric: bool = False,
                   batch_size: int = 4, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                   reporter: Reporter | None = None) -> RangeResult:
    """Calibrate ``model_path`` on ``calib`` in bounded chunks; write ORT's range cache JSON.

    The cache file is what ``quantize_static(calibration_cache_path=...)`` reads back, so
    quantization itself never runs the model again. If ``out_path`` already exists it is
    reused: its name is derived from everything that determines its contents.
    """
    rep = reporter or Reporter()
    if out_path.is_file():
        meta = _read_sidecar(out_path)
        return RangeResult(out_path, meta.get("images", 0), meta.get("skipped", 0),
                           meta.get("seconds", 0.0), True, meta.get("chunk_images", 0))
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data

    t0 = time.perf_counter()
    total = len(calib.samples)
    done = skipped = 0
    chunk_images = 0
    # ORT's collectors print; stages never do. Their lines go to the reporter as they are
    # printed (a long calibration must not look silent). stdout is redirected only around
    # ORT calls, and restored while a line is handed on: a reporter's sink may write to it.
    quiet = _Quiet(_OrtLines(rep))
    with tempfile.TemporaryDirectory(prefix="hrnet-wb-calib-") as tmp:
        with quiet:
            calibrator = create_calibrator(
                Path(model_path), op_types_to_quantize(),
                augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                calibrate_method=_ort_method(spec.method),
                extra_options=_calibrator_options(spec, symmetric),
            )
        input_name = calibrator.infer_session.get_inputs()[0].name
        pending: list[np.ndarray] = []
        per_image = 0
        seen = 0
        for kept, batch in iter_batches(calib.samples, loader, batch_size, rep):
            seen += len(kept)
            pending.append(batch)
            n_pending = sum(b.shape[0] for b in pending)
            if per_image == 0:
                per_image = _activation_bytes_per_image(calibrator, input_name, batch[:1])
                chunk_images = max(1, min(64, chunk_bytes // max(per_image, 1)))
                rep.log(f"calibration: ~{per_image / 2**20:.1f} MiB of activations per image, "
                        f"{chunk_images} images per chunk")
            if n_pending >= chunk_images:
                with quiet:
                    calibrator.collect_data(_ListReader(input_name, pending))
                done += n_pending
                pending = []
                rep.progress(done, total, "images")
        if pending:
            with quiet:
                calibrator.collect_data(_ListReader(input_name, pending))
            done += sum(b.shape[0] for b in pending)
            rep.progress(done, total, "images")
        skipped = total - seen
        if done == 0:
            raise BadInput(f"calibration: none of the {total} images could be decoded")
        with quiet:
            if spec.method == "entropy":
                ranges = entropy_ranges(calibrator.collector.histogram_dict)
            else:
                ranges = calibrator.compute_data()
        del calibrator
        seconds = time.perf_counter() - t0
        _write_sidecar(out_path, {"images": done, "skipped": skipped, "seconds": round(seconds, 3),
                                  "chunk_images": chunk_images, "spec": spec.as_dict(),
                                  "manifest_hash": calib.manifest_hash})
        save_tensors_data(ranges, out_path)  # ORT writes a temp file and renames it: atomic
    quiet.sink.flush()
    rep.log(f"calibration ({spec.method}) on {done} images took {seconds:.1f} s")
    return RangeResult(out_path, done, skipped, seconds, False, chunk_images)


def entropy_threshold(histogram: tuple[Any, ...], num_quantized_bins: int = 128,
                      rows_per_block: int = 128) -> tuple[Any, Any]:
    """ORT's KL-divergence threshold search (``HistogramCollector.get_entropy_threshold``):
    the same candidates, merging, smoothing and divergence, computed for a block of
    candidate thresholds at once instead of one interpreted loop per candidate and bin.

    ORT's version costs O(bins²) Python steps per tensor: 2048 bins took 420 s on a
    200-tensor toy HRNet and would take most of an hour on hrnet_w18.
    ``tests/test_calibration_entropy.py`` checks this one against ORT's on random histograms.
    """
    hist = np.asarray(histogram[0]).astype(np.int64)
    edges, min_value, max_value = histogram[1], histogram[2], histogram[3]
    n = hist.size
    zero = n // 2
    nq = num_quantized_bins
    half_q = nq // 2
    eps = np.float32(0.0001)  # ORT's smooth_distribution default
    csum = np.concatenate(([0], np.cumsum(hist)))
    cand = np.arange(half_q, zero + 1)
    kl_all = np.empty(cand.size)
    cols = np.arange(n)
    for b0 in range(0, cand.size, rows_per_block):
        i = cand[b0:b0 + rows_per_block]
        start = zero - i
        end = np.minimum(zero + i + 1, n)
        length = end - start
        valid = cols[None, :] < length[:, None]
        idx = np.minimum(start[:, None] + cols[None, :], n - 1)
        sliced = np.where(valid, hist[idx], 0)
        rows = np.arange(i.size)
        p = sliced.copy()
        p[rows, 0] += csum[start]
        p[rows, length - 1] += csum[n] - csum[end]
        nonzero = (p != 0) & valid
        merged = length // nq
        full = merged * nq
        cs = np.concatenate((np.zeros((i.size, 1), np.int64), np.cumsum(sliced, axis=1)), axis=1)
        cn = np.concatenate((np.zeros((i.size, 1), np.int64), np.cumsum(nonzero, axis=1)), axis=1)
        g_lo = np.arange(nq)[None, :] * merged[:, None]
        g_hi = g_lo + merged[:, None]
        qbins = np.take_along_axis(cs, g_hi, 1) - np.take_along_axis(cs, g_lo, 1)
        qbins[:, -1] += cs[rows, length] - cs[rows, full]
        norm = np.take_along_axis(cn, g_hi, 1) - np.take_along_axis(cn, g_lo, 1)
        per = np.zeros_like(qbins)
        ok = norm != 0
        per[ok] = (qbins[ok] / norm[ok]).astype(np.int64)  # ORT truncates into int64
        group = np.minimum(cols[None, :] // merged[:, None], nq - 1)
        q = np.where(cols[None, :] < full[:, None], np.take_along_axis(per, group, 1), 0)
        divs = []
        smoothed = []
        for x in (p, q):
            is_zero = ((x == 0) & valid).astype(np.float32)
            is_nz = ((x != 0) & valid).astype(np.float32)
            n_zero = is_zero.sum(axis=1, dtype=np.float64)
            n_nz = length - n_zero
            bad = n_nz == 0
            eps1 = (0.0001 * n_zero / np.where(bad, 1, n_nz)).astype(np.float32)
            sm = x.astype(np.float32) + (eps * is_zero + (-eps1)[:, None] * is_nz)
            sm = np.where(valid, sm, np.float32(0))
            smoothed.append(sm)
            divs.append(bad)
        pk, qk = smoothed
        pk = pk / pk.sum(axis=1, keepdims=True)
        qk = qk / qk.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            vec = np.where(valid, pk * np.log(pk / qk), np.float32(0))
        kl = vec.sum(axis=1).astype(np.float64)
        kl[divs[0] | divs[1]] = np.inf
        kl_all[b0:b0 + i.size] = kl
    best = int(cand[int(np.argmin(kl_all))])
    lo, hi = edges[zero - best], edges[min(zero + best + 1, n)]
    if lo < min_value:
        lo = min_value
    if hi > max_value:
        hi = max_value
    return lo, hi


def entropy_ranges(histogram_dict: dict[str, tuple[Any, ...]], num_quantized_bins: int = 128) -> Any:
    """Entropy ranges for every collected tensor, as ORT's ``compute_data`` would return."""
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import TensorsData

    out = {}
    for name, h in histogram_dict.items():
        lo, hi = entropy_threshold(h, num_quantized_bins)
        out[name] = (lo, hi, h[0], h[1])
    return TensorsData(CalibrationMethod.Entropy, out)


class _OrtLines(io.TextIOBase):
    """A stdout stand-in that hands each complete line ORT prints to the reporter at once."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.outer: Any = None  # the real stdout, restored while a line is handed on
        self._buf = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buf += text
        while "\n" in self._buf:
            line, self._buf = self._buf.split("\n", 1)
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        if self._buf:
            line, self._buf = self._buf, ""
            self._emit(line)

    def _emit(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        inner = sys.stdout
        if self.outer is not None:
            sys.stdout = self.outer
        try:
            self.reporter.log(f"ort: {line}", "debug")
        finally:
            sys.stdout = inner


class _Quiet:
    """Re-enterable stdout redirect into one sink (``contextlib.redirect_stdout`` is not)."""

    def __init__(self, sink: _OrtLines) -> None:
        self.sink = sink
        self._cm: Any = None

    def __enter__(self) -> None:
        self.sink.outer = sys.stdout
        self._cm = contextlib.redirect_stdout(self.sink)
        self._cm.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._cm.__exit__(*exc)


def _activation_bytes_per_image(calibrator: Any, input_name: str, one: np.ndarray) -> int:
    """Run the augmented model on one image to learn how much a chunk will hold."""
    outs = calibrator.infer_session.run(None, {input_name: one})
    return int(sum(np.asarray(o).nbytes for o in outs))


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def _write_sidecar(path: Path, data: dict[str, Any]) -> None:
    from workbench.atomic import write_json

    write_json(_sidecar(path), data)


def _read_sidecar(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(_sidecar(path).read_text()))
    except (OSError, ValueError):
        return {}
