"""The terminal UI (Textual). ``hrnet-wb`` with no command calls :func:`launch`.

Nothing Textual is imported here at module level: the run runner's child process imports
``workbench.tui.runner`` and must not pay for the UI.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def launch(home: str | Path | None = None, profile: str | Path | None = None,
           exit_after: bool = True) -> None:
    """Open the workbench in this terminal; with ``exit_after``, end the process when it
    closes (the caller has nothing left to print)."""
    import gc

    # Start-up makes tens of thousands of objects the cyclic GC tracks (textual's import,
    # styling the first pane): it ran 145-225 collections over them before the first full
    # frame, 35-50 ms on a 2-core box. It is off until that frame is on screen
    # (WorkbenchApp._start_preload turns it back on).
    gc.disable()
    try:
        _launch(home, profile, exit_after)
    finally:
        gc.enable()


def _launch(home: str | Path | None, profile: str | Path | None, exit_after: bool) -> None:
    # textual-image queries the terminal for kitty/sixel support; that must happen
    # before Textual takes over stdin.
    from workbench.tui.widgets.image_view import needs_terminal_query, prepare

    if needs_terminal_query():
        prepare()  # otherwise textual-image (and numpy) load when the dataset pane opens
    from workbench.home import resolve_home
    from workbench.tui.app import WorkbenchApp

    app = WorkbenchApp(home=resolve_home(home), profile_path=profile)
    app.exit_process_on_quit = exit_after
    app.gc_paused = True
    if exit_after:
        from textual.drivers.linux_driver import LinuxDriver

        if app.driver_class is LinuxDriver:  # not under serve (its own driver) or Windows
            from workbench.tui.quick_quit import QuickQuitDriver

            app.driver_class = QuickQuitDriver  # Ctrl+Q leaves without waiting for the loop
        _leave_on_signals(app)
    app.run()
    if exit_after:
        end_process(app.return_code or 0)


def _leave_on_signals(app: object) -> None:
    """SIGTERM and SIGHUP (an SSH drop) end the app as Ctrl+Q does: a running build is
    cancelled with the signal as its reason and records itself, then the process ends.
    (Under ``serve`` the web driver turns SIGTERM into an exit, which does the same.)"""
    import signal

    def on_signal(sig: int, _frame: object) -> None:
        name = signal.Signals(sig).name
        why = "cancelled: SIGHUP (the terminal closed)" if name == "SIGHUP" else f"cancelled: {name}"
        try:
            app.leave(why, 128 + sig)  # type: ignore[attr-defined]
        finally:
            end_process(128 + sig)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)


def end_process(code: int = 0) -> None:
    """Leave at once once the app has closed and restored the terminal.

    Everything the app keeps is already on disk (SQLite commits, atomic files); what is
    left is the interpreter's teardown of textual, rich, PIL and numpy, which took more
    than a second on a busy 2-core machine.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(code)
