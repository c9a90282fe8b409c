"""``Deferred``: textual's ``Lazy``, but mounted a moment after the first refresh.

``Lazy`` mounts right after the first refresh, which is when the footer and focus settle;
styling three hidden panes (~400 widgets) there held the footer back by most of a second.
A short timer lets the first full frame reach the screen before the hidden panes mount.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.widget import Widget

MOUNT_DELAY_S = 0.4


class Deferred(Widget):
    DEFAULT_CSS = """
    Deferred {
        display: none;
    }
    """

    def __init__(self, widget: Widget | Callable[[], Widget], delay: float = MOUNT_DELAY_S,
                 mounted: Callable[[Widget], Any] | None = None) -> None:
        # A factory also defers the widget's module import (and its cost) past the first frame.
        self._replace_widget = widget
        self._delay = delay
        self._mounted = mounted  # called with the widget once it and its children are mounted
        super().__init__()

    def compose_add_child(self, widget: Widget) -> None:
        assert isinstance(self._replace_widget, Widget), "children need a widget, not a factory"
        self._replace_widget.compose_add_child(widget)

    async def mount_composed_widgets(self, widgets: list[Widget]) -> None:
        parent = self.parent
        if parent is None:
            return
        assert isinstance(parent, Widget)

        async def mount() -> None:
            target = self._replace_widget
            widget = target if isinstance(target, Widget) else target()
            await parent.mount(widget, after=self)
            await self.remove()
            if self._mounted is not None:
                self._mounted(widget)

        self.call_after_refresh(self.set_timer, self._delay, mount)
