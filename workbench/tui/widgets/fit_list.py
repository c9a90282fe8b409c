"""``FitList``: an OptionList whose options are cut to its width, so a new width (the
pane's layout settling at start, a terminal resize) asks its owner to fill it again."""

from __future__ import annotations

from textual.events import Resize
from textual.message import Message
from textual.widgets import OptionList


class FitList(OptionList):
    class Resized(Message):
        """The list's width changed: its options should be cut to the new one."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._width = 0

    def on_resize(self, event: Resize) -> None:
        if event.size.width != self._width:
            self._width = event.size.width
            self.post_message(self.Resized())
