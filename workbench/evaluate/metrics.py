"""Top-k accuracy with 95% Wilson intervals, and the result of one evaluation."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

TOPK = 5
Z95 = 1.959963984540054


@dataclass
class EvalResult:
    """What one evaluation produced. Fractions (0..1), not percent; None without labels."""

    top1: float | None
    top5: float | None
    n: int  # images classified (whole results file)
    labelled: int  # of those, images with a ground truth
    skipped: int
    skipped_files: list[dict[str, str]]
    top1_ci95: tuple[float, float] | None
    top5_ci95: tuple[float, float] | None
    seconds: float  # this call's wall time
    images_per_s: float  # images classified by this call / seconds
    new_images: int  # classified by this call (the rest came from a resumed file)
    resumed: int  # results already in the file when this call started
    results_jsonl: Path
    results_txt: Path | None
    report_json: Path
    preprocess: dict[str, Any] = field(default_factory=dict)
    decode: dict[str, Any] = field(default_factory=dict)  # decoder, measured cost, threads used

    def as_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for k in ("results_jsonl", "results_txt", "report_json"):
            d[k] = None if d[k] is None else str(d[k])
        for k in ("top1_ci95", "top5_ci95"):
            d[k] = None if d[k] is None else list(d[k])
        return d


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """95% Wilson score interval for k successes in n: honest near 0 and 1, unlike k/n ± 2σ."""
    if n <= 0:
        return None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def metrics_from_records(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Top-1/top-5 (with 95% CIs) and skip counts over result records."""
    n = labelled = hit1 = hit5 = 0
    skipped: list[dict[str, str]] = []
    for r in records:
        if r.get("skipped"):
            skipped.append({"id": r["id"], "path": r.get("path", ""), "reason": r["skipped"]})
            continue
        n += 1
        gt = r.get("gt")
        if gt is None:
            continue
        labelled += 1
        top = r["top5"]
        hit1 += int(bool(top) and top[0] == gt)
        hit5 += int(gt in top[:TOPK])
    return {
        "n": n, "labelled": labelled, "skipped": len(skipped), "skipped_files": skipped,
        "top1": hit1 / labelled if labelled else None,
        "top5": hit5 / labelled if labelled else None,
        "top1_ci95": wilson_interval(hit1, labelled),
        "top5_ci95": wilson_interval(hit5, labelled),
        "top1_correct": hit1, "top5_correct": hit5,
    }


def device_topk(predictor: Any, x: Any, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(ids, probs) from a device-aware predictor's own top-k, taken where it runs, so only
    k ids and probabilities per image cross back (None: the predictor has none)."""
    fn = getattr(predictor, "predict_topk", None)
    return None if fn is None else fn(x, k)


def _topk(logits: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k ids (ties broken by lower id, so reruns match) and softmax probabilities."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    probs = e / e.sum(axis=1, keepdims=True)
    ids = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return ids, np.take_along_axis(probs, ids, axis=1)
