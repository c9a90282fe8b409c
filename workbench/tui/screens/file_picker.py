"""A keyboard-driven file picker for checkpoints (and any file with the given suffixes)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Input, Label

from workbench.tui.commands import bindings

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".tar", ".safetensors", ".bin", ".ckpt")


class FilteredTree(DirectoryTree):
    """Folders, plus files whose name ends with one of ``suffixes``; dot-files hidden."""

    def __init__(self, path: str | Path, suffixes: tuple[str, ...], *, id: str | None = None) -> None:
        super().__init__(path, id=id)
        self.suffixes = suffixes

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if not p.name.startswith(".")
                and (p.is_dir() or p.name.lower().endswith(self.suffixes))]


class FilePicker(ModalScreen[Path | None]):
    """Returns the chosen file, or None. Enter on a file picks it; a typed path works too."""

    BINDINGS = bindings("dialog")

    def __init__(self, start: str | Path, suffixes: tuple[str, ...] = CHECKPOINT_SUFFIXES,
                 title: str = "Pick a checkpoint") -> None:
        super().__init__()
        self.start = Path(start).expanduser()
        self.suffixes = suffixes
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box", classes="dialog-box"):
            yield Label(f"{self.title_text}  ({', '.join(self.suffixes)})", classes="dialog-title")
            yield Input(placeholder="type a path and press Enter, or pick below", id="picker-path",
                        compact=True)
            yield FilteredTree(self.start if self.start.is_dir() else Path.cwd(), self.suffixes,
                               id="picker-tree")
            yield Label("", id="picker-error")

    def on_mount(self) -> None:
        self.query_one(FilteredTree).focus()

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.dismiss(Path(event.path))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        p = Path(event.value.strip()).expanduser()
        if p.is_file():
            self.dismiss(p.resolve())
        elif p.is_dir():
            self.query_one(FilteredTree).path = p
        else:
            self.query_one("#picker-error", Label).update(f"{p}: no such file")

    def action_close(self) -> None:
        self.dismiss(None)
