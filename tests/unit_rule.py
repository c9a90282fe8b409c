"""The one unit rule for machine-readable output (issue 17), as a checker other tests call.

Fractions (0..1) in every JSON and CSV, never percent; counts are ints, never floats.
"""

from __future__ import annotations

from typing import Any

#: Keys whose values are fractions wherever they appear (lists: CI bounds).
FRACTION_KEYS = frozenset({
    "top1", "top5", "top1_a", "top1_b", "agreement", "top1_ci95", "top5_ci95",
    "baseline_agreement", "final_agreement", "target_agreement", "crop_pct",
    "published_top1", "published_top5", "measured_top1", "measured_top5",
})
#: Keys whose values are counts wherever they appear.
COUNT_KEYS = frozenset({
    "images", "n", "labelled", "unlabelled", "skipped", "new_images", "resumed", "written",
    "agree", "only_in_a", "only_in_b", "both_right", "both_wrong", "a_right_b_wrong",
    "a_wrong_b_right", "top1_correct", "top5_correct", "run_id", "eval_run", "eval_limit",
    "calibration_excluded", "excluded", "listed", "matched", "batch", "streams", "count",
})
#: Key fragments that would say "percent" (crop_pct is timm's name for a fraction).
PERCENT_WORDS = ("percent", "pct")


def check_units(obj: Any, where: str = "$") -> list[str]:
    """Every violation of the unit rule in a decoded JSON value, as 'path: problem'."""
    bad: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            path = f"{where}.{k}"
            if k in FRACTION_KEYS:
                vals = v if isinstance(v, list) else [v]
                for x in vals:
                    if x is not None and not (isinstance(x, (int, float)) and 0 <= x <= 1):
                        bad.append(f"{path}: {x!r} is not a fraction in [0, 1]")
            if k in COUNT_KEYS and v is not None:
                for x in (v if isinstance(v, list) else [v]):  # a grid's config lists counts
                    if isinstance(x, bool) or not isinstance(x, int):
                        bad.append(f"{path}: {x!r} is not an int count")
            low = str(k).lower()
            if any(w in low for w in PERCENT_WORDS) and low not in ("crop_pct", "percentile"):
                bad.append(f"{path}: a percent-named key")
            bad += check_units(v, path)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            bad += check_units(v, f"{where}[{i}]")
    return bad
