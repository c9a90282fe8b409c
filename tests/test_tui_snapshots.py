"""Snapshots of each pane at 80×24 (pytest-textual-snapshot), with fixed data.

Images are forced to half-cell blocks (HRNET_WB_IMAGES=halfcell, as under textual-serve),
the home is a tmp folder with a store written by tests/tui_data.py, and each snapshot
waits for its pane's workers so that nothing depends on timing. Update after an intended
change with ``pytest tests/test_tui_snapshots.py --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

import os
import shutil
import time

os.environ["HRNET_WB_IMAGES"] = "halfcell"

import pytest
from tui_data import FP32, INT8, REPO, shared_home

SIZE = (80, 24)


@pytest.fixture
def app(tmp_path, tmp_path_factory):
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.screens import models

    # counts are cached per process; start from none so the table shows only what this
    # app counted (the highlighted variant), whatever ran before
    models._COSTS.clear()
    models._PREPROCESS.clear()

    home = shared_home(tmp_path_factory)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copyfile(REPO / "profiles" / "demo.toml", profiles / "demo.toml")
    return WorkbenchApp(home=home, profiles_dir=profiles, run_mode="thread")


async def _settle(pilot, groups=("profile", "dataset-load", "model-details", "io"), timeout=120.0):
    from textual.worker import WorkerState

    t0 = time.monotonic()
    app = pilot.app
    while time.monotonic() - t0 < timeout:  # the lazily mounted panes, the details worker
        models = app.query("#models-pane")
        if (all(app.query(f"#{p}-pane") for p in ("build", "dataset", "leaderboard"))
                and models and models.first()._started and models.first()._synced):
            break
        await pilot.pause(0.05)
    while time.monotonic() - t0 < timeout:
        busy = [w for w in pilot.app.workers if w.group in groups
                and w.state in (WorkerState.PENDING, WorkerState.RUNNING)]
        if not busy:
            break
        await pilot.pause(0.1)
    await pilot.pause()
    for inp in pilot.app.query("Input"):
        inp.cursor_blink = False


def test_models_pane(snap_compare, app):
    async def before(pilot):
        await _settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_build_pane_with_a_run_in_progress(snap_compare, app):
    from workbench.events import LogLine, Progress, RunStarted, StageFinished, StageStarted
    from workbench.tui.app import Job
    from workbench.tui.bridge import make_sink

    async def before(pilot):
        await _settle(pilot)
        await pilot.press("2")
        await pilot.pause()  # the log must have its size before lines are written
        a = pilot.app
        a.jobs.append(Job(1, "demo w18_small ort-cpu-int8", a.profile, "", status="running"))
        a.jobs.append(Job(2, "demo w18 ort-cpu-fp32", a.profile, "", status="queued"))
        sink = make_sink(a, 1)
        sink(RunStarted("run", 4, "profiles/demo.toml"))
        for stage, secs in (("model", 1.3), ("export", 10.0), ("data", 0.1)):
            sink(StageStarted(stage, stage))
            sink(StageFinished(stage, secs))
        sink(StageStarted("build", "2 build(s)", 2))
        sink(Progress("build", 1, 2, "builds"))
        sink(LogLine("model", "RANDOM-INIT WEIGHTS: accuracy figures of this run are meaningless",
                     "warning"))
        sink(LogLine("build", "hrnet_w18_small-fp32-none-3_224_224-ort-cpu: built"))
        await pilot.pause()
        await _settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_dataset_pane_two_runs_side_by_side(snap_compare, app):
    async def before(pilot):
        await _settle(pilot)
        await pilot.press("3")
        pilot.app.open_in_dataset(f"1/{INT8}", f"1/{FP32}")
        await _settle(pilot)
        await pilot.press("down")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_leaderboard_pane(snap_compare, app):
    async def before(pilot):
        await _settle(pilot)
        await pilot.press("4")
        await pilot.pause()
        await pilot.press("m", "down", "m")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_leaderboard_latency_plot(snap_compare, app):
    async def before(pilot):
        await _settle(pilot)
        await pilot.press("4")
        await pilot.pause()
        await pilot.press("p")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_error_modal(snap_compare, app):
    from workbench.errors import BadInput
    from workbench.tui.screens.error import ErrorModal, describe

    async def before(pilot):
        await _settle(pilot)
        title, msg = describe(BadInput("/data/w18.pth: weights file not found"))
        await pilot.app.push_screen(ErrorModal(title, msg, "run 5 recorded as failed"))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)
