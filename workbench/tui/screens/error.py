"""The one error modal. The app's single ``Worker.StateChanged`` handler pushes it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from workbench.errors import BadInput, CheckFailed, WorkbenchError
from workbench.tui.commands import bindings


def describe(error: BaseException) -> tuple[str, str]:
    """(title, one-line message) the way the CLI would say it (exit 2 / 1 / internal)."""
    if isinstance(error, BadInput):
        return "Bad input", str(error)
    if isinstance(error, CheckFailed):
        return "Check failed", str(error)
    if isinstance(error, WorkbenchError):
        return type(error).__name__, str(error)
    return "Internal error", f"{type(error).__name__}: {error}"


class ErrorModal(ModalScreen[None]):
    """Title, the one-line message, and where to look next (a traceback file, a run id)."""

    BINDINGS = bindings("dialog")

    def __init__(self, title: str, message: str, detail: str = "") -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.message = message
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(id="error-box", classes="dialog-box"):
            yield Label(self.title_text, id="error-title", classes="dialog-title")
            yield Static(self.message, id="error-message", markup=False)
            if self.detail:
                yield Static(self.detail, id="error-detail", markup=False)
            yield Button("OK", id="error-ok", variant="error", compact=True)

    def on_mount(self) -> None:
        self.query_one("#error-ok", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
