"""Activation ranges for int8: ONNX Runtime's calibrators fed in bounded chunks (see
``calibration.py`` for why), our own entropy threshold search, and the on-disk cache."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.backends.ort_cpu.build import ort_calibration_method
from workbench.build.calibration import (
    DEFAULT_CHUNK_BYTES,
    ENTROPY_BINS,
    CalibrationSet,
    CalibrationSpec,
    ImageLoader,
    iter_batches,
)
from workbench.errors import BadInput
from workbench.events import Reporter


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
    sink = io.StringIO()  # ORT's collectors print; stages never do
    # stdout is redirected only around ORT calls: a reporter's sink may itself write to it.
    quiet = _Quiet(sink)
    with tempfile.TemporaryDirectory(prefix="hrnet-wb-calib-") as tmp:
        with quiet:
            calibrator = create_calibrator(
                Path(model_path), op_types_to_quantize(),
                augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                calibrate_method=ort_calibration_method(spec.method),
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
    for line in sink.getvalue().splitlines():
        if line.strip():
            rep.log(f"ort: {line.strip()}", "debug")
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


class _Quiet:
    """Re-enterable stdout redirect into one buffer (``contextlib.redirect_stdout`` is not)."""

    def __init__(self, sink: io.StringIO) -> None:
        self.sink = sink
        self._cm: Any = None

    def __enter__(self) -> None:
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
