"""Messages the panes post upward; the app owns the profile, the queue and the store's writes.

Panes never reach into the app (no ``self.app`` cast to ``WorkbenchApp``): they show what
the app hands them (``show_profile``, ``show_queue``) and say what the user asked for
with one of these messages, which bubble from the pane to the app. This keeps the import
graph one-way (``tui/app.py`` imports the panes; no pane imports the app).
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class ProfileEdited(Message):
    """Set one field of the app's profile, e.g. ``ProfileEdited("model.variant", "hrnet_w18")``."""

    def __init__(self, field: str, value: Any) -> None:
        super().__init__()
        self.field = field
        self.value = value


class LoadProfile(Message):
    """Replace the app's profile with the one in ``path``."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path


class SaveProfileRequested(Message):
    """Open the save dialog for the current profile."""


class QueueRun(Message):
    """Queue a run of the current profile."""


class CancelRun(Message):
    """Cancel the running build."""


class ClearQueue(Message):
    """Drop the queued runs that have not started."""


class OpenRuns(Message):
    """Show run builds ``a`` (and ``b``) in the Dataset pane; values are ``run_id/build``."""

    def __init__(self, a: str, b: str | None = None) -> None:
        super().__init__()
        self.a = a
        self.b = b


class BackgroundFailed(Message):
    """A daemon-thread task failed; the app shows it in the one error modal."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error
