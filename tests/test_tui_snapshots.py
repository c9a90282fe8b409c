"""Snapshots of each pane at 60×20, 80×24 and 120×40 (pytest-textual-snapshot), with fixed
data.

Images are forced to half-cell blocks (HRNET_WB_IMAGES=halfcell, as under textual-serve),
the home is a tmp folder with a store written by tests/tui_data.py, the variant counts come
from a cost.json written there (so no snapshot waits for torch), and each snapshot waits
for its pane's loading so that nothing depends on timing. Update after an intended change
with ``pytest tests/test_tui_snapshots.py --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

import os
import shutil
import time

os.environ["HRNET_WB_IMAGES"] = "halfcell"

import pytest
from tui_data import FP32, INT8, REPO, shared_home

SIZES = {"60x20": (60, 20), "80x24": (80, 24), "120x40": (120, 40)}
#: 80x24 (the size the TUI is laid out for) runs in the fast suite; the other sizes are
#: marked slow, so `python -m pytest -m slow` (a step of .ci/run) checks them.
SIZE_PARAMS = [pytest.param(s, marks=() if s == "80x24" else pytest.mark.slow) for s in SIZES]


@pytest.fixture(scope="module")
def counted_home(tmp_path_factory, cost_json):
    """The shared home with every variant's real count in its cost.json (the session's one
    count, by the same worker the Models pane runs: conftest's ``cost_json``), so the table
    is full from the first frame and no snapshot catches a spinner mid-turn."""
    home = shared_home(tmp_path_factory)
    home.cache.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cost_json, home.cache / "cost.json")
    return home


@pytest.fixture
def app(tmp_path, counted_home):
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.count_worker import default_preprocess
    from workbench.tui.screens import models

    models._COSTS.clear()  # what the table shows comes from the home's cost.json
    models._PREPROCESS.clear()
    key = ("timm", "hrnet_w18_small", (224, 224))
    models._PREPROCESS[key] = default_preprocess(*key)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copyfile(REPO / "profiles" / "demo.toml", profiles / "demo.toml")
    return WorkbenchApp(home=counted_home, profiles_dir=profiles, run_mode="thread")


async def _settle(pilot, timeout=60.0):
    t0 = time.monotonic()
    app = pilot.app
    while time.monotonic() - t0 < timeout:  # the lazily mounted panes, the profile
        models = app.query("#models-pane")
        if (all(app._panes.get(p) is not None and app._panes[p].is_mounted
                for p in ("build", "dataset", "leaderboard"))
                and models and models.first()._started and models.first()._synced):
            break
        await pilot.pause(0.05)
    while time.monotonic() - t0 < timeout:
        ds = app._panes.get("dataset")
        if ds is None or not ds.is_loading:
            break
        await pilot.pause(0.05)
    await pilot.pause(0.3)
    for inp in app.screen_stack[0].query("Input"):
        inp.cursor_blink = False


def pressing(*keys: str, pane: str = "", wait: float | None = None):
    """A ``run_before`` that settles, opens ``pane`` (its number key), then presses ``keys``
    and waits ``wait`` seconds (None: until the screen settles)."""
    async def before(pilot):
        await _settle(pilot)
        if pane:
            await pilot.press(pane)
            await pilot.pause()
        if keys:
            await pilot.press(*keys)
            await pilot.pause(wait)

    return before


@pytest.mark.parametrize("size", SIZE_PARAMS)
def test_models_pane(snap_compare, app, size):
    assert snap_compare(app, terminal_size=SIZES[size], run_before=pressing())


@pytest.mark.parametrize("size", SIZE_PARAMS)
def test_build_pane_with_a_run_in_progress(snap_compare, app, size):
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
        a._show_queue()
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

    assert snap_compare(app, terminal_size=SIZES[size], run_before=before)


@pytest.mark.parametrize("size", SIZE_PARAMS)
def test_dataset_pane_two_runs_side_by_side(snap_compare, app, size):
    async def before(pilot):
        await _settle(pilot)
        await pilot.press("3")
        pilot.app.open_in_dataset(f"1/{INT8}", f"1/{FP32}")
        await pilot.pause(0.2)
        await _settle(pilot)
        await pilot.press("down")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=before)


@pytest.mark.parametrize("size", SIZE_PARAMS)
def test_dataset_image_view(snap_compare, app, size):
    """Enter on a row: the original beside the model's crop, each run's rank of the truth."""
    async def before(pilot):
        await _settle(pilot)
        await pilot.press("3")
        pilot.app.open_in_dataset(f"1/{INT8}", f"1/{FP32}")
        await pilot.pause(0.2)
        await _settle(pilot)
        pilot.app.query_one("#images").focus()
        await pilot.press("down", "enter")
        t0 = time.monotonic()
        while not getattr(pilot.app.screen, "crop_done", False) and time.monotonic() - t0 < 60:
            await pilot.pause(0.05)
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=before)


@pytest.mark.parametrize("size", SIZE_PARAMS)
def test_leaderboard_pane(snap_compare, app, size):
    assert snap_compare(app, terminal_size=SIZES[size], run_before=pressing("m", "down", "m", pane="4"))


@pytest.mark.parametrize("size", SIZE_PARAMS)
def test_leaderboard_latency_plot(snap_compare, app, size):
    assert snap_compare(app, terminal_size=SIZES[size], run_before=pressing("p", pane="4"))


@pytest.mark.parametrize("size", SIZE_PARAMS)
@pytest.mark.parametrize("key", ["c", "i"], ids=["compare", "detail"])
def test_leaderboard_dialogs(snap_compare, app, size, key):
    """The compare dialog (two marked rows) and the detail dialog fit, or scroll."""
    assert snap_compare(app, terminal_size=SIZES[size],
                        run_before=pressing("m", "down", "m", key, pane="4", wait=0.3))


@pytest.mark.parametrize("size", SIZE_PARAMS)
@pytest.mark.parametrize("at", ["top", "end"])
def test_help(snap_compare, app, size, at):
    """The help's title line (how to close it) at the top, and its last section at the end."""
    async def before(pilot):
        await _settle(pilot)
        await pilot.press("f1")
        await pilot.pause(0.3)
        if at == "end":
            await pilot.press("end")
            await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=SIZES[size], run_before=before)


@pytest.mark.parametrize("size", SIZE_PARAMS)
def test_leaderboard_filter_error_wraps(snap_compare, app, size):
    assert snap_compare(app, terminal_size=SIZES[size],
                        run_before=pressing("slash", *"colour=red", pane="4", wait=0.3))


@pytest.mark.parametrize("size", SIZE_PARAMS)
def test_error_modal(snap_compare, app, size):
    from workbench.errors import BadInput
    from workbench.tui.screens.error import ErrorModal, describe

    async def before(pilot):
        await _settle(pilot)
        title, msg = describe(BadInput("/data/w18.pth: weights file not found"))
        await pilot.app.push_screen(ErrorModal(title, msg, "run 5 recorded as failed"))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZES[size], run_before=before)


@pytest.fixture
def precision_app(tmp_path, tmp_path_factory):
    """Two CPUs, a build that ran bf16, a full and a --limit eval (tests/tui_data.py)."""
    from tui_data import make_precision_home

    from workbench.tui.app import WorkbenchApp

    home = make_precision_home(tmp_path_factory.mktemp("tui-precision-snap"))
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copyfile(REPO / "profiles" / "demo.toml", profiles / "demo.toml")
    return WorkbenchApp(home=home, profiles_dir=profiles, run_mode="thread")


@pytest.mark.parametrize("detail", [False, True], ids=["table", "detail"])
def test_leaderboard_says_what_ran_and_which_eval(snap_compare, precision_app, detail):
    assert snap_compare(precision_app, terminal_size=SIZES["80x24"],
                        run_before=pressing(*["i"] if detail else [], pane="4"))
