"""Small modal dialogs that return typed results: a profile name, a two-run comparison."""

from __future__ import annotations

import re
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label

from workbench.tui.board import compare, short_build
from workbench.tui.commands import bindings

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ProfileNameDialog(ModalScreen[str | None]):
    """Ask for a new profile's name; returns it (validated as a file stem) or None."""

    BINDINGS = bindings("dialog")

    def __init__(self, suggestion: str = "") -> None:
        super().__init__()
        self.suggestion = suggestion

    def compose(self) -> ComposeResult:
        with Vertical(id="name-box", classes="dialog-box"):
            yield Label("Save the current choices as profiles/<name>.toml", classes="dialog-title")
            yield Input(self.suggestion, placeholder="name, e.g. w18_int8_ov", id="profile-name",
                        compact=True)
            yield Label("", id="name-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = event.value.strip().removesuffix(".toml")
        if not _NAME.match(name):
            self.query_one("#name-error", Label).update(
                "letters, digits, '_', '-', '.'; starting with a letter or digit")
            return
        self.dismiss(name)

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
            yield Label(f"A: run {self.a['run_id']} {short_build(self.a['build'])}   "
                        f"B: run {self.b['run_id']} {short_build(self.b['build'])}",
                        classes="dialog-title")
            yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        t = self.query_one(DataTable)
        for label, width in (("metric", 11), ("A", 17), ("B", 17), ("B − A", 18)):
            t.add_column(label, width=width)  # 80 columns: truncate, never push B − A off
        for row in compare(self.a, self.b):
            t.add_row(*(cell[:17] if i in (1, 2) else cell for i, cell in enumerate(row)))
        t.focus()

    def action_close(self) -> None:
        self.dismiss(None)
