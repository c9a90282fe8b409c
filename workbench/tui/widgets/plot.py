"""The one module that wraps the plotting library (textual-plotext), so it can be swapped.

Panes hand it :class:`workbench.tui.board.Series`, labels and axis limits; nothing else
in the TUI imports plotext. The legend is a line of its own under the canvas (plotext
draws its legend over the data), each series has its own colour and marker so none hides
another, and the title is shortened to the width it is drawn at.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.containers import Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from workbench.tui.board import Series

MARKERS = ("dot", "x", "+", "o", "*", "@")
# Distinct on dark and light themes; the legend uses the same names.
COLORS = ("cyan", "magenta", "yellow", "green", "red", "blue")


def fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


class _Canvas(PlotextPlot):
    """The plotext canvas; its title is fitted to its width when it is drawn."""

    def __init__(self) -> None:
        super().__init__(id="plot-canvas")
        self.full_title = ""

    def render(self) -> RenderResult:
        self.plt.title(fit(self.full_title, max(self.size.width - 4, 8)))
        return super().render()


class Plot(Vertical):
    """A plot that redraws from series; the last call decides what is shown."""

    DEFAULT_CSS = """
    Plot { height: 1fr; min-height: 6; }
    Plot > #plot-canvas { height: 1fr; }
    Plot > #plot-legend { height: auto; max-height: 2; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title = ""
        self.series: list[Series] = []
        self.empty_text = ""
        self._canvas = _Canvas()
        self._legend = Static("", id="plot-legend", markup=False)

    def compose(self) -> ComposeResult:
        yield self._canvas
        yield self._legend

    def _reset(self, title: str, xlabel: str, ylabel: str, series: Sequence[Series],
               empty: str, xlim: tuple[float, float] | None,
               ylim: tuple[float, float] | None) -> None:
        plt = self._canvas.plt
        plt.clear_data()
        plt.clear_figure()
        # No axis-label rows: the title names both axes, which leaves the rows to the data.
        self.title = title
        self.series = list(series)
        self._canvas.full_title = title if series else f"{title}: {empty}"
        if xlim is not None:
            plt.xlim(*xlim)
        if ylim is not None:
            plt.ylim(*ylim)
        legend = Text()
        for i, s in enumerate(series):
            if i:
                legend.append("  ")
            legend.append(f"{_glyph(i)} {s.label}", style=COLORS[i % len(COLORS)])
        self._legend.update(legend)
        self._legend.display = bool(series)

    def scatter(self, series: Sequence[Series], *, title: str, xlabel: str, ylabel: str,
                empty: str = "no data", xlim: tuple[float, float] | None = None,
                ylim: tuple[float, float] | None = None) -> None:
        """Points per series (e.g. accuracy against throughput, one series per build kind)."""
        self._reset(title, xlabel, ylabel, series, empty, xlim, ylim)
        plt = self._canvas.plt
        for i, s in enumerate(series):
            plt.scatter(list(s.x), list(s.y), marker=MARKERS[i % len(MARKERS)],
                        color=COLORS[i % len(COLORS)])
        self._canvas.refresh()

    def lines(self, series: Sequence[Series], *, title: str, xlabel: str, ylabel: str,
              xticks: Sequence[str] = (), empty: str = "no data",
              ylim: tuple[float, float] | None = None) -> None:
        """Points over grid points (e.g. p50/p90/p99 latency per batch size). Points, not
        lines: a line between two grid points reads as a curve (and at small sizes as a
        bar). Each series sits a little to the side of the tick, so equal values (p90 =
        p99) never hide one another."""
        xlim = (0.5, len(xticks) + 0.5) if xticks else None
        self._reset(title, xlabel, ylabel, series, empty, xlim, ylim)
        plt = self._canvas.plt
        n = len(series)
        for i, s in enumerate(series):
            shift = (i - (n - 1) / 2) * 0.5 / max(n, 1)
            plt.scatter([x + shift for x in s.x], list(s.y), marker=MARKERS[i % len(MARKERS)],
                        color=COLORS[i % len(COLORS)])
        if xticks:
            plt.xticks(list(range(1, len(xticks) + 1)), list(xticks))
        self._canvas.refresh()


def _glyph(i: int) -> str:
    return {"dot": "•", "x": "x", "+": "+", "o": "o", "*": "*", "@": "@"}[MARKERS[i % len(MARKERS)]]
