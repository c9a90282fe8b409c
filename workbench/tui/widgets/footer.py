"""``PaneFooter``: Textual's footer, showing only whole keys, recomposed only on a change.

Two changes to :class:`textual.widgets.Footer`:

- It recomposes only when the keys it shows change. Textual recomposes on every bindings
  update (three times before the first full frame, and on every focus move), and each
  recompose builds and styles every key again.
- A key that would be cut at the right edge is hidden with the keys after it, so a narrow
  terminal shows whole labels ("c Compare", never "c Co"). The keys that work everywhere
  come first (:class:`workbench.tui.app.MainScreen`), F1 among them, and the help lists
  every key, so F1 is the footer's "more" key.

It shows the keys in the first frame (Textual's waits for the first bindings update, a
frame later), and posts :class:`PaneFooter.KeysShown` once they are on screen: the app's
first full frame is there then, and the app starts its slower work after it.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterLabel, KeyGroup


class PaneFooter(Footer):
    class KeysShown(Message):
        """The footer shows its keys for the first time."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Textual's footer composes nothing until the first bindings update, a frame after
        # the first: this one shows its keys in the first frame.
        self.set_reactive(Footer._bindings_ready, True)
        self._shown: tuple[Any, ...] = ()
        self._announced = False
        self._widths: dict[int, int] = {}  # id(child) → its width with margins, while shown

    def _keys(self) -> tuple[Any, ...]:
        """What ``compose`` shows: the bindings with their enabled state and tooltip."""
        return tuple((b, enabled, tip) for _n, b, enabled, tip
                     in self.screen.active_bindings.values() if b.show)

    def compose(self) -> ComposeResult:
        self._shown = self._keys()
        self._widths.clear()
        self.call_after_refresh(self._fit)
        if self._shown and not self._announced:
            self._announced = True
            self.call_after_refresh(self.post_message, self.KeysShown())
        yield from super().compose()

    async def recompose(self) -> None:
        if self._keys() != self._shown or not self.children:
            await super().recompose()

    def watch_compact(self) -> None:
        self._widths.clear()  # the keys' spacing changes with it
        for child in self.children:
            child.display = True
        self.call_after_refresh(self._fit)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        """Show the keys that fit whole, in order; hide the first one that does not and
        every one after it. A key group and its label ("1234 Panes") go together."""
        units: list[list[Widget]] = []
        for child in self.children:
            if isinstance(child, FooterLabel) and units and isinstance(units[-1][-1], KeyGroup):
                units[-1].append(child)
            else:
                units.append([child])
        room, used, fits = self.size.width, 0, True
        for unit in units:
            widths = [self._width(child) for child in unit]
            if None in widths:
                return  # not laid out yet: the next resize fits it
            used += sum(w for w in widths if w is not None)
            fits = fits and used - unit[-1].styles.margin.right <= room
            for child in unit:
                child.display = fits

    def _width(self, child: Widget) -> int | None:
        if id(child) not in self._widths:
            if not child.display or child.outer_size.width == 0:
                return None
            self._widths[id(child)] = child.outer_size.width + child.styles.margin.width
        return self._widths[id(child)]
