"""Figures and tables as text: the one cell formatter and the one Markdown table writer.

The CLI's leaderboard, the TUI's board and the side-by-side README table all render
through here, so a missing figure reads '–' everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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
