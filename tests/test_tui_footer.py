"""Every pane's footer shows whole key labels at narrow widths: a key that would be cut is
hidden with the ones after it (F1 lists them all), and they come back when there is room."""

from __future__ import annotations

import asyncio
import time

import pytest
from tui_data import shared_app

PANES = ("1", "2", "3", "4")


def _shown(footer) -> list:
    return [child for child in footer.children if child.display]


async def _wait(pilot, cond, timeout=60.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout and not cond():
        await pilot.pause(0.05)
    assert cond()


@pytest.mark.parametrize("width", [60, 52])
def test_every_panes_footer_shows_whole_keys(tmp_path_factory, tmp_path, cost_json, width):
    from workbench.tui.widgets.footer import PaneFooter

    app = shared_app(tmp_path_factory, tmp_path, cost_json)

    async def run() -> None:
        async with app.run_test(size=(width, 20)) as pilot:
            await _wait(pilot, lambda: all(app._panes.get(p) is not None and app._panes[p].is_mounted
                                           for p in ("build", "dataset", "leaderboard")))
            hidden = {}
            for key in PANES:
                await pilot.press(key)
                await pilot.pause(0.5)
                footer = app.screen.query_one(PaneFooter)
                shown = _shown(footer)
                labels = " ".join(str(getattr(c, "description", "")) for c in shown)
                # whole: every shown key ends inside the screen; F1 (the "more" key) is shown
                assert all(c.region.right <= width for c in shown), (key, labels)
                assert any(getattr(c, "key", "") == "f1" for c in shown), (key, labels)
                hidden[key] = len(footer.children) - len(shown)
            if width == 52:  # the Leaderboard's keys do not all fit: the last ones give way
                assert hidden["4"] > 0
                await pilot.resize_terminal(120, 20)  # and come back with the room
                await pilot.pause(0.5)
                footer = app.screen.query_one(PaneFooter)
                assert len(_shown(footer)) == len(footer.children)

    asyncio.run(run())
