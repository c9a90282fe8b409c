"""The one module that wraps the plotting library (textual-plotext), so it can be swapped.

Panes hand it :class:`workbench.tui.board.Series` and labels; nothing else in the TUI
imports plotext.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual_plotext import PlotextPlot

from workbench.tui.board import Series

MARKERS = ("dot", "x", "+", "o", "*", "@")


class Plot(PlotextPlot):
    """A plot that redraws from series; the last call decides what is shown."""

    DEFAULT_CSS = """
    Plot { height: 1fr; min-height: 6; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.title = ""
        self.series: list[Series] = []
        self.empty_text = ""

    def _reset(self, title: str, xlabel: str, ylabel: str) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        plt.xlabel(xlabel)
        plt.ylabel(ylabel)
        self.title = title

    def scatter(self, series: Sequence[Series], *, title: str, xlabel: str, ylabel: str,
                empty: str = "no data") -> None:
        """Points per series (e.g. accuracy against throughput, one series per build kind)."""
        self._reset(title, xlabel, ylabel)
        self.series = list(series)
        plt = self.plt
        if not series:
            plt.title(f"{title}: {empty}")
        for i, s in enumerate(series):
            plt.scatter(list(s.x), list(s.y), label=s.label, marker=MARKERS[i % len(MARKERS)])
        self.refresh()

    def lines(self, series: Sequence[Series], *, title: str, xlabel: str, ylabel: str,
              xticks: Sequence[str] = (), empty: str = "no data") -> None:
        """Lines over grid points (e.g. p50/p90/p99 latency per batch size)."""
        self._reset(title, xlabel, ylabel)
        self.series = list(series)
        plt = self.plt
        if not series:
            plt.title(f"{title}: {empty}")
        for i, s in enumerate(series):
            plt.plot(list(s.x), list(s.y), label=s.label, marker=MARKERS[i % len(MARKERS)])
        if xticks:
            plt.xticks(list(range(1, len(xticks) + 1)), list(xticks))
        self.refresh()
