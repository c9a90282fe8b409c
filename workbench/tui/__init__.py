"""The terminal UI (Textual). ``hrnet-wb`` with no command calls :func:`launch`.

Nothing Textual is imported here at module level: the run runner's child process imports
``workbench.tui.runner`` and must not pay for the UI.
"""

from __future__ import annotations

from pathlib import Path


def launch(home: str | Path | None = None, profile: str | Path | None = None) -> None:
    """Open the workbench in this terminal."""
    # textual-image queries the terminal for kitty/sixel support; that must happen
    # before Textual takes over stdin.
    from workbench.tui.widgets.image_view import needs_terminal_query, prepare

    if needs_terminal_query():
        prepare()  # otherwise textual-image (and numpy) load when the dataset pane opens
    from workbench.home import resolve_home
    from workbench.tui.app import WorkbenchApp

    WorkbenchApp(home=resolve_home(home), profile_path=profile).run()
