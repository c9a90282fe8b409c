"""The parity gate: does an exported (or reloaded) model compute what torch computes?

Used after every export (ONNX, TorchScript, a checkpoint in another layout). The
tolerance is relative to the logits' scale, so one setting is right for random-init and
trained weights, small and wide variants alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.errors import CheckFailed

#: What to change when a correct export fails the gate, named in every failure.
TOLERANCE_SETTING = "export.parity_tolerance (hrnet-wb export --tolerance)"


@dataclass(frozen=True)
class Parity:
    """How closely a candidate's logits follow the reference's, in scale-free terms.

    An absolute tolerance cannot be right for every model: float32 rounding grows with the
    logits, so a correct hrnet_w18 export fails 1e-4 while a broken small one may pass it.
    ``rel`` divides the worst difference by the largest reference logit; top-k agreement
    and cosine say whether the difference changes what the model predicts. A near-tie
    (two classes within twice the allowed difference) is not counted as a disagreement.
    """

    images: int
    max_abs: float
    scale: float  # max |reference logit|
    rel: float  # max_abs / scale
    cosine: float  # the worst (lowest) per-image cosine
    top1_agree: int  # images whose top-1 matches (near-ties count as matching)
    top5_agree: int  # images whose top-5 set matches (likewise)
    nonfinite_reference: int = 0  # NaN/inf logits from the reference (the weights, not the export)
    nonfinite_candidate: int = 0

    def problems(self, tolerance: float) -> list[str]:
        """Why this fails a gate at ``tolerance`` (relative); empty when it passes."""
        if self.nonfinite_reference:
            return [f"the reference's own logits hold {self.nonfinite_reference} NaN/inf values "
                    "(the weights are broken, not the export)"]
        if self.nonfinite_candidate:
            return [f"the export gives {self.nonfinite_candidate} NaN/inf logits where the reference has none"]
        out = []
        if self.rel > tolerance:
            out.append(f"max abs logit difference {self.max_abs:.3g} is {self.rel:.3g} of the logits' "
                       f"scale {self.scale:.3g} (> {tolerance:g})")
        if self.cosine < 1.0 - tolerance:
            out.append(f"cosine {self.cosine:.6f} < {1.0 - tolerance:.6f}")
        if self.top1_agree < self.images or self.top5_agree < self.images:
            out.append(f"top-1 agrees on {self.top1_agree}/{self.images} images, "
                       f"top-5 on {self.top5_agree}/{self.images}")
        return out

    def summary(self) -> str:
        return (f"max abs {self.max_abs:.3g} ({self.rel:.3g} of scale {self.scale:.3g}), cosine "
                f"{self.cosine:.8f}, top-1 {self.top1_agree}/{self.images}, top-5 "
                f"{self.top5_agree}/{self.images}")


def compare_logits(reference: np.ndarray, candidate: np.ndarray, tolerance: float = 1e-4) -> Parity:
    """Compare two (N, classes) logit arrays; ``tolerance`` sets what counts as a near-tie."""
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(candidate, dtype=np.float64)
    bad_a, bad_b = int(np.size(a) - np.isfinite(a).sum()), int(np.size(b) - np.isfinite(b).sum())
    n = len(a)
    if bad_a or bad_b:
        return Parity(n, float("nan"), float("nan"), float("nan"), float("nan"), 0, 0, bad_a, bad_b)
    max_abs = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    num = np.sum(a * b, axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cos = np.where(den > 0, num / np.maximum(den, 1e-300), 1.0)
    slack = 2 * tolerance * scale  # two logits this close may swap places in a correct export
    rows = np.arange(n)
    top1 = np.argmax(b, axis=1)
    top1_ok = a[rows, top1] >= a.max(axis=1) - slack
    k = min(5, a.shape[1]) if a.ndim == 2 else 1
    fifth = np.sort(a, axis=1)[:, -k]
    top5 = np.argsort(-b, axis=1)[:, :k]
    top5_ok = np.all(a[rows[:, None], top5] >= fifth[:, None] - slack, axis=1)
    return Parity(n, max_abs, scale, rel, float(np.min(cos)) if n else 1.0,
                  int(top1_ok.sum()), int(top5_ok.sum()))


def check_parity(kind: str, reference: np.ndarray, candidate: np.ndarray, tolerance: float,
                 setting: str = TOLERANCE_SETTING) -> Parity:
    """The gate: the :class:`Parity`, or CheckFailed naming every reason and what to change."""
    p = compare_logits(reference, candidate, tolerance)
    problems = p.problems(tolerance)
    if problems:
        fix = ("check the checkpoint" if p.nonfinite_reference
               else f"if the export is right, raise {setting}")
        raise CheckFailed(f"{kind} parity failed: {'; '.join(problems)} on {p.images} images; "
                          f"the file was not written; {fix}")
    return p
