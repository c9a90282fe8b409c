"""Widgets that tell their owner when their size changes, so it can fit their content.

``FitList``: an OptionList whose options are cut to its width, so a new width (the
pane's layout settling at start, a terminal resize) asks its owner to fill it again.
``SizedColumn``: a column whose content is sized to it (the Dataset pane's preview).

It is the Dataset pane's image list: Enter is the registry's ``dataset.view`` here, so the
footer names it while the list has focus (OptionList's own Enter is hidden)."""

from __future__ import annotations

from textual.containers import Vertical
from textual.events import Resize
from textual.message import Message
from textual.widgets import OptionList

from workbench.tui.commands import COMMANDS


class FitList(OptionList):
    BINDINGS = [c.binding() for c in COMMANDS if c.id == "dataset.view"]

    class Resized(Message):
        """The list's width changed: its options should be cut to the new one."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._width = 0

    def on_resize(self, event: Resize) -> None:
        if event.size.width != self._width:
            self._width = event.size.width
            self.post_message(self.Resized())

    def action_view_image(self) -> None:  # Enter: select, which the pane answers with the view
        self.action_select()


class SizedColumn(Vertical):
    """A column that says when its size changes. Its owner's own Resize misses a change of
    the column alone: at start the Dataset pane narrows its list (a class set on its first
    Resize) and the preview column widens after the image was sized to the old width."""

    class Resized(Message):
        """The column has a new size: what is sized to it should be sized again."""

    def on_resize(self) -> None:
        self.post_message(self.Resized())
