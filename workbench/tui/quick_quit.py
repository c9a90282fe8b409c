"""Ctrl+Q ends the process at once, whatever the event loop is doing.

A key reaches an action only when the event loop gets to it. In the first seconds the
loop is busy mounting the hidden panes (each one a single callback of 50-150 ms on a
busy 2-core box) and Ctrl+Q waited behind them: 0.5 s median, 1 s after the first frame.
Quitting the usual way also joined Textual's input thread, whose ``select`` wakes every
0.1 s and then once more for 0.1 s: another 0.1-0.2 s on every quit.

:class:`QuickQuitDriver` is Textual's Linux driver with one change: on its input thread,
Ctrl+Q (when ``app.can_leave_at_once()``) leaves without the loop; a build running in
its own process is signalled first and records itself as cancelled on the way out. It
stops the output thread after what it had queued (every frame written so far), restores
the terminal itself and ends the process. Frames the loop renders after that are dropped,
so the terminal restore is the last thing written. With a build running in this process
(``run_mode="thread"``) the key goes to the app: the build is cancelled, recorded, and then
the app quits.
Everything the app keeps is on disk already (SQLite commits, atomic file writes), which is
what makes ending the process safe.
"""

from __future__ import annotations

import threading
from typing import IO, Any

from textual import events
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver

from workbench.tui import end_process

__all__ = ["QuickQuitDriver", "leave_now"]

SYNC_END = "\x1b[?2026l"  # a frame cut after its sync start would otherwise hold the screen


class _DirectWriter:
    """Stands in for the output thread once it has stopped: writes straight through."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file

    def write(self, text: str) -> None:
        self._file.write(text)

    def flush(self) -> None:
        self._file.flush()

    def stop(self) -> None:
        self.flush()


def leave_now(driver: Driver | None, code: int = 0) -> None:
    """Restore the terminal and end the process (nothing left to save: see the module)."""
    if isinstance(driver, LinuxDriver):
        # stop_application_mode joins the input thread (up to 0.2 s of select timeouts):
        # not needed when the process ends next, and impossible from that thread itself.
        driver._key_thread = None
        driver.write(SYNC_END)
        if threading.current_thread() is not threading.main_thread():
            # disable_input starts with signal.signal, which only the main thread may call
            # (it would fail before turning the mouse off): do its part here and skip it
            driver._disable_mouse_support()
            driver.exit_event.set()
        driver.stop_application_mode()
        driver.close()  # the output thread writes what is queued (the restore) and ends
    elif driver is not None:
        driver.stop_application_mode()
    end_process(code)


class QuickQuitDriver(LinuxDriver):
    """Textual's Linux driver; Ctrl+Q leaves from the input thread."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._leaving: int | None = None  # the thread that is leaving; others write nothing

    def write(self, data: str) -> None:
        if self._leaving is not None and threading.get_ident() != self._leaving:
            return
        super().write(data)

    def process_message(self, message: Any) -> None:
        # On the input thread.
        if isinstance(message, events.Key) and message.key == "ctrl+q":
            can_leave = getattr(self._app, "can_leave_at_once", None)
            if can_leave is not None and can_leave():
                self.leave()
                return
        super().process_message(message)

    def leave(self) -> None:
        self._leaving = threading.get_ident()
        stop = getattr(self._app, "stop_background", None)
        if stop is not None:
            stop("cancelled: the app quit (Ctrl+Q)")
        writer = self._writer_thread
        if writer is not None:
            writer.stop()  # every frame queued so far reaches the terminal; later ones do not
            file: Any = self._file
            self._writer_thread = _DirectWriter(file)  # type: ignore[assignment]
        leave_now(self, 0)
