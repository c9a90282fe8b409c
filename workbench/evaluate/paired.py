"""``hrnet-wb compare``: two runs paired image by image (agreement, flips, McNemar's exact
test), and finding a run's results from an id, a folder or a file."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.evaluate.formats import RESULTS_JSONL, read_results


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: P(X ≤ min(b, c)) × 2 for X ~ Binomial(b + c, ½).

    Exact in integers up to 2,000 discordant pairs; beyond, the same sum in log space
    (relative error ~1e-12, far below anything that changes a decision).
    """
    n, m = b + c, min(b, c)
    if n == 0:
        return 1.0
    if n <= 2000:
        from fractions import Fraction

        tail = sum(math.comb(n, i) for i in range(m + 1))
        return float(min(Fraction(1), Fraction(2 * tail, 2**n)))
    log_terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2)
                 for i in range(m + 1)]
    top = max(log_terms)
    log_tail = top + math.log(math.fsum(math.exp(t - top) for t in log_terms))
    return min(1.0, 2 * math.exp(log_tail))


@dataclass
class Flip:
    """One image whose top-1 differs between the two runs."""

    id: str
    gt: int | None
    a_top1: int
    b_top1: int
    a_gt_rank: int | None  # 1..5, None if the ground truth is outside the top-5 (or unknown)
    b_gt_rank: int | None


def _gt_rank(rec: dict[str, Any]) -> int | None:
    gt = rec.get("gt")
    if gt is None or gt not in rec["top5"]:
        return None
    return int(rec["top5"].index(gt)) + 1


def compare_results(a: Path, b: Path) -> dict[str, Any]:
    """Pair two results.jsonl files by image id: agreement, flips, McNemar on top-1 correctness."""
    ra = {str(r["id"]): r for r in read_results(Path(a)) if not r.get("skipped")}
    rb = {str(r["id"]): r for r in read_results(Path(b)) if not r.get("skipped")}
    if not ra:
        raise BadInput(f"{a}: no classified images")
    if not rb:
        raise BadInput(f"{b}: no classified images")
    common = [i for i in ra if i in rb]
    if not common:
        raise BadInput(f"{a} and {b} share no image ids; were they run on the same data?")
    agree = 0
    flips: list[Flip] = []
    a_only = b_only = both = neither = 0
    labelled = 0
    for i in common:
        x, y = ra[i], rb[i]
        if x["top5"][0] == y["top5"][0]:
            agree += 1
        else:
            flips.append(Flip(i, x.get("gt"), x["top5"][0], y["top5"][0], _gt_rank(x), _gt_rank(y)))
        gt = x.get("gt") if x.get("gt") is not None else y.get("gt")
        if gt is None:
            continue
        labelled += 1
        ca, cb = x["top5"][0] == gt, y["top5"][0] == gt
        both += ca and cb
        neither += (not ca) and (not cb)
        a_only += ca and not cb
        b_only += cb and not ca
    n = len(common)
    result: dict[str, Any] = {
        "a": str(a), "b": str(b), "images": n,
        "only_in_a": len(ra) - n, "only_in_b": len(rb) - n,
        "agreement": agree / n, "agree": agree, "flips": [f.__dict__ for f in flips],
        "labelled": labelled,
    }
    if labelled:
        discordant = a_only + b_only
        result.update({
            "top1_a": (both + a_only) / labelled, "top1_b": (both + b_only) / labelled,
            "table": {"both_right": both, "a_right_b_wrong": a_only, "a_wrong_b_right": b_only,
                      "both_wrong": neither},
            "mcnemar_p": mcnemar_exact(a_only, b_only),
            "mcnemar_method": "exact binomial, two-sided",
            "mcnemar_chi2_cc": (max(0, abs(a_only - b_only) - 1) ** 2 / discordant) if discordant else 0.0,
        })
    else:
        result.update({"top1_a": None, "top1_b": None, "table": None, "mcnemar_p": None,
                       "mcnemar_method": "no ground truth: correctness cannot be paired"})
    return result


def find_results(ref: str, home: Any) -> Path:
    """A results.jsonl from a run id (``7`` or ``7:BUILD``), a run folder or a file path."""
    p = Path(ref).expanduser()
    if p.is_file():
        return p
    if p.is_dir():
        return _results_in(p, "", ref)
    m = re.fullmatch(r"(\d+)(?:[:/](.+))?", ref.strip())
    if not m:
        raise BadInput(f"{ref}: not a run id (e.g. 7 or 7:BUILD), a run folder or a results.jsonl")
    from workbench.store import Store

    run = Store(home.db).run_record(int(m.group(1)))
    if run is None:
        raise BadInput(f"run {m.group(1)} is not in {home.db} (see `hrnet-wb runs`)")
    if not run.get("out_dir"):
        raise BadInput(f"run {m.group(1)} has no output folder")
    return _results_in(Path(run["out_dir"]), m.group(2) or "", ref)


def _results_in(d: Path, build: str, ref: str) -> Path:
    if build:
        f = d / build / RESULTS_JSONL
        if not f.is_file():
            raise BadInput(f"{ref}: no results for build {build!r} in {d}")
        return f
    if (d / RESULTS_JSONL).is_file():
        return d / RESULTS_JSONL
    found = sorted(p.parent.name for p in d.glob(f"*/{RESULTS_JSONL}"))
    if len(found) == 1:
        return d / found[0] / RESULTS_JSONL
    if not found:
        raise BadInput(f"{ref}: no {RESULTS_JSONL} in {d}")
    raise BadInput(f"{ref}: holds {len(found)} builds ({', '.join(found)}); pick one as "
                   f"{ref}:{found[0]}")
