"""Defect 15: a message for a pane that has not mounted yet (the hidden panes mount after the
first frame) is kept and applied when the pane mounts, instead of raising NoMatches."""

from __future__ import annotations

import os

os.environ["HRNET_WB_IMAGES"] = "halfcell"

from test_tui_app import make_app, profiles_dir, ready, sync, wait_for  # noqa: F401
from tui_data import tiny_profile

from workbench.events import LogLine
from workbench.tui.bridge import PipelineMessage


@sync
async def test_a_run_queued_at_the_first_frame_reaches_the_build_pane_once_it_mounts(
        tmp_path, profiles_dir):  # noqa: F811
    from workbench.home import resolve_home
    from workbench.tui.screens.error import ErrorModal

    home = resolve_home(tmp_path / "home")
    app = make_app(home, profiles_dir, profile=tiny_profile(tmp_path), mode="thread")
    async with app.run_test(size=(80, 24)) as pilot:
        # the first frame: only the Models pane is there
        assert app.build_pane is None and not app.query("#build-pane")
        app.profile.model.weights = str(tmp_path / "nope.pth")
        job = app.queue_current()  # what "r" does; it fails at once (no such weights file)
        app.post_message(PipelineMessage(job.id, LogLine("export", "kept until the pane mounts")))
        await pilot.pause()
        assert await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal), 60, 0.05)
        await pilot.press("enter")
        await ready(pilot)
        assert app.return_code is None  # the app is still running: nothing raised NoMatches

        def log() -> str:
            return "\n".join(str(line.text) for line in app.query_one("#log").lines)

        # RichLog renders what it was given once it has a size (the next refresh)
        assert await wait_for(pilot, lambda: "kept until the pane mounts" in log(), 5, 0.05)
        log = log()
        assert "nope.pth" in log.replace("\n", "")  # the Failed event before the mount (a long tmp path wraps)
        queue = app.query_one("#queue")
        assert queue.option_count == 1 and "failed" in str(queue.get_option_at_index(0).prompt)
