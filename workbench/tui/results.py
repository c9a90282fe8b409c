"""What the Dataset pane shows: a run's per-image results, read back from its out_dir.

A run's ``out_dir`` (``Store.run_record(id)["out_dir"]``) holds one folder per build with a
``results.jsonl`` written by :mod:`workbench.evaluate`: one JSON object per image. This
module reads those files into :class:`ImageRow` objects and applies the pane's filters
(all / wrong / flipped between two runs / skipped). It imports neither textual nor the
heavy stack, so it is tested as plain Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILTERS = ("all", "wrong", "flipped", "skipped")


@dataclass(frozen=True)
class ImageRow:
    """One image's result in one build of one run."""

    id: str
    path: str
    label: int | None
    topk: tuple[int, ...] = ()
    probs: tuple[float, ...] = ()
    skipped: bool = False
    error: str = ""

    @property
    def pred(self) -> int | None:
        return self.topk[0] if self.topk else None

    @property
    def correct(self) -> bool | None:
        """None when the image has no label or was skipped."""
        if self.skipped or self.label is None or self.pred is None:
            return None
        return self.pred == self.label

    @property
    def in_top5(self) -> bool | None:
        if self.skipped or self.label is None or not self.topk:
            return None
        return self.label in self.topk[:5]


@dataclass
class BuildResults:
    """All rows of one build's results.jsonl, keyed by image id, in file order."""

    run_id: int
    build: str
    path: Path
    rows: dict[str, ImageRow] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``run 3 · int8-percentile-3_224_224-ort-cpu`` (the variant prefix dropped)."""
        from workbench.tui.board import short_build

        return f"run {self.run_id} · {short_build(self.build)}"


def parse_row(obj: dict[str, Any]) -> ImageRow:
    """One results.jsonl record → ImageRow.

    The fields are those :func:`workbench.evaluate.evaluate` writes: ``id``, ``path``,
    ``gt`` (class id or null), ``top5`` and ``prob5`` for a scored image, ``skipped``
    (the reason, a string) for an image that could not be decoded.
    """
    path = str(obj.get("path") or "")
    gt = obj.get("gt")
    reason = obj.get("skipped") or ""
    return ImageRow(
        id=str(obj.get("id") or Path(path).name), path=path,
        label=None if gt is None else int(gt),
        topk=tuple(int(t) for t in obj.get("top5") or ()),
        probs=tuple(float(p) for p in obj.get("prob5") or ()),
        skipped=bool(reason), error=str(reason) if reason is not True else "skipped",
    )


def read_results(path: str | Path, run_id: int = 0, build: str = "") -> BuildResults:
    """Read a build's results.jsonl with evaluate's own reader (a torn last line of a
    killed run is ignored; a damaged file raises BadInput naming the line)."""
    from workbench.evaluate import read_results as read_records

    path = Path(path)
    out = BuildResults(run_id, build or path.parent.name, path)
    for rec in read_records(path):
        row = parse_row(rec)
        out.rows[row.id] = row
    return out


def results_path(out_dir: str | Path, build: str) -> Path:
    from workbench.evaluate import RESULTS_JSONL

    return Path(out_dir) / build / RESULTS_JSONL


def builds_in(out_dir: str | Path) -> list[str]:
    """Build names (sub-folders with a results.jsonl) of one run, sorted."""
    d = Path(out_dir) if out_dir else None
    if d is None or not d.is_dir():
        return []
    return sorted(p.parent.name for p in d.glob("*/results.jsonl"))


def filter_ids(a: BuildResults, b: BuildResults | None, which: str) -> list[str]:
    """Image ids of ``a`` that pass the filter (``flipped`` compares top-1 with ``b``)."""
    if which not in FILTERS:
        raise ValueError(f"filter {which!r}: expected one of {', '.join(FILTERS)}")
    ids = list(a.rows)
    if b is not None:
        ids += [i for i in b.rows if i not in a.rows]
    if which == "all":
        return ids
    if which == "skipped":
        return [i for i in ids if _skipped(a, i) or (b is not None and _skipped(b, i))]
    if which == "wrong":
        return [i for i in ids if _wrong(a, i) or (b is not None and _wrong(b, i))]
    # flipped: correct in one run, wrong in the other (or a different top-1 without labels)
    if b is None:
        return []
    out = []
    for i in ids:
        ra, rb = a.rows.get(i), b.rows.get(i)
        if ra is None or rb is None or ra.skipped or rb.skipped:
            continue
        if ra.correct is not None and rb.correct is not None:
            if ra.correct != rb.correct:
                out.append(i)
        elif ra.pred != rb.pred:
            out.append(i)
    return out


def _skipped(r: BuildResults, i: str) -> bool:
    row = r.rows.get(i)
    return row is not None and row.skipped


def _wrong(r: BuildResults, i: str) -> bool:
    row = r.rows.get(i)
    return row is not None and row.correct is False


def mark(a: ImageRow | None, b: ImageRow | None = None) -> str:
    """The list's status glyph: ✓ right, ✗ wrong, ↔ flipped, – skipped, · unlabelled."""
    if a is None:
        return " "
    if a.skipped:
        return "–"
    if b is not None and not b.skipped and a.correct is not None and b.correct is not None \
            and a.correct != b.correct:
        return "↔"
    if a.correct is None:
        return "·"
    return "✓" if a.correct else "✗"
