"""Per-stage progress rows for the Build pane: one line per pipeline stage."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

GLYPH = {"pending": "·", "running": "▶", "done": "✓", "failed": "✗", "cancelled": "■",
         "skipped": "–"}


class StageRow(Static):
    """``▶ build   ███████░░░░░  1/2   4.1s``: dumb, updated by the Build pane."""

    DEFAULT_CSS = """
    StageRow { height: 1; width: 1fr; }
    """

    def __init__(self, stage: str, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.stage = stage
        self.state = "pending"
        self.done = 0
        self.total: int | None = None
        self.seconds: float | None = None
        self.note = ""
        self.draw()

    def set(self, *, state: str | None = None, done: int | None = None, total: int | None = None,
            seconds: float | None = None, note: str | None = None) -> None:
        if state is not None:
            self.state = state
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        if seconds is not None:
            self.seconds = seconds
        if note is not None:
            self.note = note
        self.draw()

    def reset(self) -> None:
        self.state, self.done, self.total, self.seconds, self.note = "pending", 0, None, None, ""
        self.draw()

    def text(self, width: int = 12) -> str:
        if self.state == "done":
            frac = 1.0
        elif self.total:
            frac = max(0.0, min(1.0, self.done / self.total))
        else:
            frac = 0.0
        filled = round(frac * width)
        bar = "█" * filled + "░" * (width - filled)
        count = f"{self.done}/{self.total}" if self.total else ("" if self.state != "running" else "…")
        secs = f"{self.seconds:.1f}s" if self.seconds is not None else ""
        return f"{GLYPH.get(self.state, '?')} {self.stage:<6} {bar} {count:>7} {secs:>6} {self.note}".rstrip()

    def draw(self) -> None:
        # one line, cut with an ellipsis at the row's edge (never into the queue beside it)
        self.update(Text(self.text(), no_wrap=True, overflow="ellipsis"))
        self.set_classes(f"-{self.state}")
