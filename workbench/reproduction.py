"""Reproduction check: does this pipeline reproduce the accuracy the source published?

When real weights from the catalogue (``pretrained`` or ``hub:<tag>``) are evaluated on
data labelled with the 1000 ImageNet-1k classes, the measured top-1/top-5 are set beside
the published ones with the difference. On a subset the measurement carries the 95%
Wilson interval of its own sample, so a gap inside the interval reads as noise and a gap
outside it as a real difference (preprocessing, weights, or the build). The published
figures are on all 50,000 val images; a subset of other images is a different sample.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from workbench.tables import percent

IMAGENET_CLASSES = 1000
IMAGENET_VAL_IMAGES = 50_000


@dataclass(frozen=True)
class Reproduction:
    """Published vs measured accuracy for one build, in percent."""

    weights: str  # catalogue key, e.g. "timm:hrnet_w18.ms_aug_in1k"
    images: int  # labelled images measured
    published_top1: float | None
    published_top5: float | None
    measured_top1: float
    measured_top5: float | None
    top1_ci95: tuple[float, float] | None  # Wilson, in %
    top5_ci95: tuple[float, float] | None

    @property
    def delta_top1(self) -> float | None:
        return None if self.published_top1 is None else self.measured_top1 - self.published_top1

    @property
    def delta_top5(self) -> float | None:
        if self.published_top5 is None or self.measured_top5 is None:
            return None
        return self.measured_top5 - self.published_top5

    @property
    def subset(self) -> bool:
        return self.images < IMAGENET_VAL_IMAGES

    def verdict(self) -> str:
        """"within the interval" / "outside the interval" / "matches" (full val, |Δ| ≤ 0.1)."""
        if self.published_top1 is None:
            return "nothing published"
        if not self.subset or self.top1_ci95 is None:
            return "matches" if abs(self.delta_top1 or 0.0) <= 0.1 else "differs"
        lo, hi = self.top1_ci95
        return "published inside the interval" if lo <= self.published_top1 <= hi else \
            "published outside the interval"

    def summary(self) -> str:
        """One line: ``top-1 76.20 vs 76.77 published (Δ -0.57), 95% CI 72.1–80.0 on 500 images …``."""
        parts = [f"top-1 {self.measured_top1:.2f}"]
        if self.published_top1 is not None:
            parts[0] += f" vs {self.published_top1:.2f} published (Δ {self.delta_top1:+.2f})"
        if self.top1_ci95 is not None and self.subset:
            parts.append(f"95% CI {self.top1_ci95[0]:.1f}–{self.top1_ci95[1]:.1f} on {self.images} images")
        if self.measured_top5 is not None and self.published_top5 is not None:
            parts.append(f"top-5 {self.measured_top5:.2f} vs {self.published_top5:.2f} (Δ {self.delta_top5:+.2f})")
        return f"{self.weights}: " + ", ".join(parts) + f": {self.verdict()}"

    def as_dict(self) -> dict[str, Any]:
        """Machine-readable, under the one unit rule: accuracies and their differences as
        fractions (this object holds percent for the human line), counts as ints."""
        def frac(v: Any) -> Any:
            if v is None:
                return None
            if isinstance(v, tuple):
                return [x / 100.0 for x in v]
            return v / 100.0

        d = asdict(self)
        for k in FRACTION_FIELDS:
            d[k] = frac(getattr(self, k))
        d.update(subset=self.subset, verdict=self.verdict())
        return d


#: Reproduction fields that are accuracies (or differences of them): fractions when written.
FRACTION_FIELDS = ("published_top1", "published_top5", "measured_top1", "measured_top5",
                   "top1_ci95", "top5_ci95", "delta_top1", "delta_top5")


def looks_like_imagenet_val(class_names: list[str], labelled: int) -> bool:
    """Labels index the 1000 ImageNet-1k classes (val, a subset, or any such images)."""
    return labelled > 0 and len(class_names) == IMAGENET_CLASSES


def reproduction(catalogue_key: str, result: Any) -> Reproduction | None:
    """Compare an :class:`~workbench.evaluate.EvalResult` with the catalogue's published row.

    None when the weights are no catalogue entry, nothing is published, or there are no labels.
    """
    if not catalogue_key or result.top1 is None:
        return None
    from workbench.sources.weights_catalogue import published_for

    source, rest = catalogue_key.split(":", 1)
    variant, _, tag = rest.partition(".")
    entry = published_for(source, variant, tag)
    if entry is None:
        return None

    def _percents(ci: Any) -> tuple[float, float] | None:
        return None if ci is None else (percent(ci[0]), percent(ci[1]))

    return Reproduction(
        weights=catalogue_key, images=int(result.labelled),
        published_top1=entry.top1, published_top5=entry.top5,
        measured_top1=percent(result.top1), measured_top5=percent(result.top5),
        top1_ci95=_percents(result.top1_ci95), top5_ci95=_percents(result.top5_ci95),
    )
