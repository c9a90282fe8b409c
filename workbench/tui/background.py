"""Background work that must never hold up quitting.

Textual's thread workers run on asyncio's default executor, whose threads are joined when
the event loop shuts down: a worker that is importing torch or counting a model kept the
process alive for 4-9 s after Ctrl+Q. Work that can take seconds and whose result is
worthless once the app is gone (counting params and compute, resolving preprocessing)
runs on a daemon thread started here instead. It reports back with ``post_message``
(thread-safe, and a no-op once the app has closed), never by touching widgets, and it
checks ``cancelled()`` between items so a newer request supersedes it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Background:
    """One daemon thread at a time per instance; ``start`` cancels the previous one."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._generation = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(is_cancelled, *args)`` on a new daemon thread."""
        with self._lock:
            self._generation += 1
            gen = self._generation

        def cancelled() -> bool:
            return gen != self._generation

        thread = threading.Thread(target=fn, args=(cancelled, *args), name=self.name, daemon=True)
        self._thread = thread
        thread.start()

    def cancel(self) -> None:
        with self._lock:
            self._generation += 1

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
