"""Figures and tables as text: the one cell formatter, the one percent rule and the one
Markdown and CSV writers.

The CLI's leaderboard, the TUI's board, the zoo table and the side-by-side README table
all render through here, so a missing figure reads '–' everywhere.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any


def percent(value: Any) -> Any:
    """A fraction as percent for a human table (None stays None)."""
    return None if value is None or value == "" else 100 * float(value)


def format_percent(value: Any, spec: str = "{:.2f}") -> str:
    """A fraction as percent text ('–' when missing), e.g. ``spec="{:+.2f}"`` for a delta."""
    return format_figure(percent(value), spec)


def csv_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """CSV with a header; a missing or None value is an empty cell."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: "" if r.get(c) is None else r.get(c) for c in columns})
    return buf.getvalue()


def format_figure(value: Any, spec: str) -> str:
    """One cell as text: '–' for a missing figure, ``spec`` (``"{:.1f}"``) otherwise."""
    if value is None or value == "":
        return "–"
    try:
        return spec.format(value)
    except (ValueError, TypeError):
        return str(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]],
                   align: Sequence[str] | None = None) -> list[str]:
    """Plain Markdown table lines; ``align`` holds 'l' or 'r' per column (default left)."""
    rule = ["---:" if a == "r" else "---" for a in (align or ["l"] * len(header))]
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    out.extend("| " + " | ".join(r) + " |" for r in rows)
    return out
