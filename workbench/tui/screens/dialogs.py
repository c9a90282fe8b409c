"""Small modal dialogs that return typed results: a profile name, a two-run comparison."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from workbench.errors import WorkbenchError
from workbench.tui.board import compare, detail, recipe
from workbench.tui.commands import bindings

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ProfileNameDialog(ModalScreen[Path | None]):
    """Ask for a new profile's name and save it with ``save(name) -> path``.

    The dialog shows the folder in full, pre-fills a name no file there has, and stays
    open with an error line when the name is bad or the save fails (an existing file,
    a read-only folder); it returns the saved path, or None when closed.
    """

    BINDINGS = bindings("dialog")

    def __init__(self, folder: Path, suggestion: str, save: Callable[[str], Path]) -> None:
        super().__init__()
        self.folder = folder
        self.suggestion = suggestion
        self.save = save

    def compose(self) -> ComposeResult:
        with Vertical(id="name-box", classes="dialog-box"):
            yield Label("Save the current choices as a profile", classes="dialog-title")
            yield Label(f"in {self.folder}/", id="name-folder")
            yield Input(self.suggestion, placeholder="name, e.g. w18_int8_ov", id="profile-name",
                        compact=True)
            yield Label("", id="name-target")
            yield Label("", id="name-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self._show_target(self.suggestion)

    def _show_target(self, value: str) -> None:
        name = value.strip().removesuffix(".toml")
        self.query_one("#name-target", Label).update(
            f"→ {self.folder / (name + '.toml')}" if name else "")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._show_target(event.value)
        self.query_one("#name-error", Label).update("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = event.value.strip().removesuffix(".toml")
        error = self.query_one("#name-error", Label)
        if not _NAME.match(name):
            error.update("letters, digits, '_', '-', '.'; starting with a letter or digit")
            return
        try:
            path = self.save(name)
        except (WorkbenchError, OSError) as exc:
            error.update(str(exc))
            return
        self.dismiss(path)

    def action_close(self) -> None:
        self.dismiss(None)


class CompareDialog(ModalScreen[None]):
    """Two leaderboard rows side by side with the difference of each metric."""

    BINDINGS = bindings("dialog")

    def __init__(self, a: dict[str, Any], b: dict[str, Any]) -> None:
        super().__init__()
        self.a, self.b = a, b

    def compose(self) -> ComposeResult:
        with Vertical(id="compare-box", classes="dialog-box"):
            yield Label(f"A: run {self.a['run_id']} {recipe(self.a)}\n"
                        f"B: run {self.b['run_id']} {recipe(self.b)}", classes="dialog-title")
            with VerticalScroll(id="compare-table"):
                yield Static(self._table(), id="compare-text")

    def _table(self) -> Table:
        """Rich wraps a long cell (the runtime's settings, the eval data) inside its column,
        so the four columns fit the dialog at any width and nothing is cut."""
        table = Table(box=None, expand=True, pad_edge=False, header_style="bold")
        table.add_column("metric", no_wrap=True)
        for label in ("A", "B", "B − A"):
            table.add_column(label, ratio=1, overflow="fold")
        for row in compare(self.a, self.b):
            table.add_row(*row)
        return table

    def on_mount(self) -> None:
        self.query_one("#compare-table", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)


class DetailDialog(ModalScreen[None]):
    """One leaderboard row in full: the eval behind its accuracy, what ran, on which CPU."""

    BINDINGS = bindings("dialog")

    def __init__(self, row: dict[str, Any]) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        with Vertical(id="detail-box", classes="dialog-box"):
            yield Label(f"run {self.row['run_id']} {recipe(self.row)}", classes="dialog-title")
            with VerticalScroll(id="detail-scroll"):
                # one row per fact; a long value (the eval, the CPU note) wraps beside its name
                for key, value in detail(self.row):
                    with Horizontal(classes="detail-row"):
                        yield Label(key, classes="detail-key")
                        yield Static(Text(value), classes="detail-value")

    def on_mount(self) -> None:
        self.query_one("#detail-scroll", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)
