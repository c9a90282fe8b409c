"""The help screen: every command of the registry, grouped by where it works.

The text wraps to the dialog's width (nothing is cut at 80 columns) and the groups carry
the names the tabs use.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from workbench.tui.commands import PANE_NAMES, SCOPES, Command, bindings, commands_for, key_label

SECTION_TITLES = {"app": "Everywhere", **{k: f"{v} pane" for k, v in PANE_NAMES.items()},
                  "dialog": "Dialogs (error, help, file picker, compare, image)"}


def help_table(scopes: tuple[str, ...] = SCOPES) -> Group:
    """Per section: its title on a line of its own (never cut to the key column's width),
    then a table of key, command, what it does (wrapped)."""
    parts: list[Text | Table] = []
    for scope in scopes:
        parts.append(Text(SECTION_TITLES[scope], style="bold underline"))
        table = Table(box=None, show_header=False, expand=True, pad_edge=False)
        table.add_column("key", no_wrap=True, width=7)
        table.add_column("command", no_wrap=True, width=11)
        table.add_column("what it does", ratio=1, overflow="fold")
        for cmd in commands_for(scope):
            table.add_row(key_label(cmd), cmd.title, cmd.tooltip)
        parts.append(table)
    return Group(*parts)


def listed_commands(scopes: tuple[str, ...] = SCOPES) -> list[Command]:
    return [c for s in scopes for c in commands_for(s)]


class HelpScreen(ModalScreen[None]):
    BINDINGS = bindings("dialog")

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box", classes="dialog-box"):
            yield Label("Keys · Esc closes · Ctrl+P finds a command", classes="dialog-title")
            with VerticalScroll(id="help-scroll"):
                yield Static(help_table(), id="help-text")

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)
