"""Our block-vectorised KL threshold search must pick what ONNX Runtime's own picks.

Both sum in float32, in a different order, so near-ties (candidates whose divergences
differ in the 7th digit) may resolve differently; then the divergence of our pick, as ORT
computes it, must equal ORT's minimum to within float32 noise.
"""

from __future__ import annotations

import numpy as np
import pytest

from workbench.build.ranges import entropy_threshold


def _histogram(rng: np.random.Generator, kind: str, bins: int):
    if kind == "relu":
        data = np.maximum(rng.normal(0.2, 1.0, 20000), 0).astype(np.float32)
    elif kind == "heavy":
        data = rng.standard_t(2, 20000).astype(np.float32)
    else:
        data = rng.normal(0, 1, 20000).astype(np.float32)
    thr = np.float32(np.abs(data).max())
    hist, edges = np.histogram(data, bins, range=(-thr, thr))
    return (hist, edges.astype(np.float32), data.min(), data.max(), thr)


def _ort_divergences(hist: np.ndarray, nq: int = 128) -> np.ndarray:
    """ORT's per-candidate divergence, with ORT's own smoothing and entropy functions."""
    from onnxruntime.quantization.calibrate import entropy
    from onnxruntime.quantization.quant_utils import smooth_distribution

    n = hist.size
    z = n // 2
    out = []
    for i in range(nq // 2, z + 1):
        s, e = z - i, min(z + i + 1, n)
        sl = hist[s:e]
        p = sl.copy()
        p[0] += hist[:s].sum()
        p[-1] += hist[e:].sum()
        nonzero = p != 0
        m = sl.size // nq
        q = np.zeros(p.size, np.int64)
        for k in range(nq):
            total = sl[k * m:(k + 1) * m].sum() + (sl[nq * m:].sum() if k == nq - 1 else 0)
            norm = nonzero[k * m:(k + 1) * m].sum()
            if norm:
                q[k * m:(k + 1) * m] = total / norm
        ps, qs = smooth_distribution(p), smooth_distribution(q)
        out.append(np.inf if ps is None or qs is None else float(np.float32(entropy(ps, qs))))
    return np.array(out)


@pytest.mark.parametrize("kind", ["relu", "heavy", "normal"])
@pytest.mark.parametrize("bins", [256, 300])
def test_same_choice_as_onnxruntime(kind, bins):
    from onnxruntime.quantization.calibrate import HistogramCollector

    h = _histogram(np.random.default_rng(bins), kind, bins)
    collector = HistogramCollector("entropy", symmetric=False, num_bins=bins,
                                   num_quantized_bins=128, percentile=99.999, scenario="same")
    ref_lo, ref_hi = collector.get_entropy_threshold(h, 128)
    lo, hi = entropy_threshold(h, 128)
    if (float(lo), float(hi)) != (float(ref_lo), float(ref_hi)):
        kl = _ort_divergences(h[0])
        edges = h[1]
        z = h[0].size // 2
        ours = next(k for k, i in enumerate(range(64, z + 1)) if float(edges[min(z + i + 1, edges.size - 1)]) == float(hi)
                    or float(edges[z - i]) == float(lo))
        assert kl[ours] - kl.min() <= 1e-6 + 1e-3 * kl.min()
    if kind == "heavy":  # the search is real: a heavy tail is clipped well inside min/max
        assert float(hi) < 0.9 * float(h[3])
    if kind == "relu":  # nothing below zero to keep
        assert float(lo) == pytest.approx(float(h[2]))
