"""The help screen: every command of the registry, grouped by where it works."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from workbench.tui.commands import SCOPE_TITLES, SCOPES, bindings, commands_for, key_label


class HelpScreen(ModalScreen[None]):
    BINDINGS = bindings("dialog")

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box", classes="dialog-box"):
            yield Label("Keys  (Esc closes; Ctrl+P finds any command by name)", classes="dialog-title")
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("where", "key", "command", "what it does")
        for scope in SCOPES:
            for cmd in commands_for(scope):
                table.add_row(SCOPE_TITLES[scope].split()[0], key_label(cmd), cmd.title, cmd.tooltip,
                              key=cmd.id)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
