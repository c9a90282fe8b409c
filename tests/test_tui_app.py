"""Pilot tests: drive each pane at 80×24 and assert on what it shows."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ["HRNET_WB_IMAGES"] = "halfcell"  # deterministic images; set before the app loads

import pytest
from tui_data import FP32, INT8, REPO, shared_home, tiny_profile

from workbench.store import Store

SIZE = (80, 24)


def sync(fn):
    """Run an async Pilot test with asyncio (no async pytest plugin is a dependency)."""
    import asyncio
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


@pytest.fixture
def board_home(tmp_path_factory, cost_json):
    """The shared board, with the session's counts in its cost.json (as the snapshots see
    it), so no app here starts counting in a child of its own."""
    home = shared_home(tmp_path_factory)
    home.cache.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cost_json, home.cache / "cost.json")
    return home


@pytest.fixture
def profiles_dir(tmp_path):
    d = tmp_path / "profiles"
    d.mkdir()
    shutil.copyfile(REPO / "profiles" / "demo.toml", d / "demo.toml")
    return d


def make_app(home, profiles_dir, profile=None, mode="process"):
    from workbench.tui.app import WorkbenchApp

    return WorkbenchApp(home=home, profile_path=profile, profiles_dir=profiles_dir, run_mode=mode)


def is_ready(app) -> bool:
    """The lazily mounted panes are there and the Models pane has started its details."""
    panes = all(app.query(f"#{p}-pane") for p in ("build", "dataset", "leaderboard"))
    models = app.query("#models-pane")
    return panes and bool(models) and models.first()._started and models.first()._synced


async def ready(pilot) -> None:
    assert await wait_for(pilot, lambda: is_ready(pilot.app), 60, 0.05)
    await pilot.pause()


async def settle(pilot, app, group: str, timeout: float = 60) -> None:
    """Wait until the workers of ``group`` are done (an exclusive restart cancels one)."""
    from textual.worker import WorkerState

    def done() -> bool:
        return all(w.state not in (WorkerState.PENDING, WorkerState.RUNNING)
                   for w in app.workers if w.group == group)

    assert await wait_for(pilot, done, timeout, 0.05)
    await pilot.pause()


async def wait_for(pilot, cond, timeout: float, step: float = 0.2) -> bool:
    """Poll ``cond``; ``timeout`` bounds a hang (>= 60 s), it is not a speed goal."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        await pilot.pause(step)
    return cond()


# -- Models ---------------------------------------------------------------------------------


@sync
async def test_models_pane_pick_variant_source_and_size(tmp_path, profiles_dir, monkeypatch):
    # the counting child's own priority is not under test here: at nice 19 beside a machine
    # others keep busy it gets a sliver of a core, and this test waits on its counts
    monkeypatch.setattr("workbench.tui.count_worker.lowest_priority_and_die_with_parent", lambda: None)
    from textual.widgets import DataTable, Input, Select, Static

    from workbench.home import resolve_home

    home = resolve_home(tmp_path / "home")  # its own: the counting must start from nothing
    app = make_app(home, profiles_dir)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.pause()
        table = app.query_one("#variants", DataTable)
        assert table.row_count == 11
        assert app.focused is table
        # the demo profile is loaded at start: hrnet_w18_small is highlighted
        assert app.profile.model.variant == "hrnet_w18_small"
        await pilot.press("down", "down")
        assert app.profile.model.variant == "hrnet_w18"
        await pilot.press("up", "up")
        assert app.profile.model.variant == "hrnet_w18_small"
        app.query_one("#source", Select).value = "official"
        await pilot.pause()
        assert app.profile.model.source == "official"
        def counted() -> bool:
            return ("GFLOPs" in str(app.query_one("#model-info", Static).render())
                    and "resolving" not in str(app.query_one("#model-info", Static).render()))

        assert await wait_for(pilot, counted, 120)
        info = str(app.query_one("#model-info", Static).render())
        # FACTS §3: small_v1 is 13.187 M params and 1.49 GFLOPs (MACs / 2^30) officially
        assert "official:hrnet_w18_small" in info
        assert "params 13.2 M · 1.49 GFLOPs" in info
        assert "official: resize short side 256 bilinear → crop 224×224" in info
        assert table.get_cell("hrnet_w18_small", "gmacs") == "1.49"
        await pilot.press("down", "down")  # counted in the background, or counted next
        assert await wait_for(pilot, lambda: table.get_cell("hrnet_w18", "gmacs") == "3.99", 120)
        assert table.get_cell("hrnet_w18", "params") == "21.3"
        await pilot.press("up", "up")
        size = app.query_one("#input-size", Input)
        size.value = "225"
        await pilot.pause()
        assert "multiple of 32" in str(app.query_one("#models-hint", Static).render())
        assert app.profile.model.input_size == (224, 224)
        size.value = "64"
        await pilot.pause()
        assert app.profile.model.input_size == (64, 64)
        # Esc leaves the text field: single-letter keys act on the pane again
        size.focus()
        await pilot.pause()
        assert app.focused is size
        await pilot.press("escape")
        assert app.focused is table
    # a second app on the same home shows the counts cached by the first at once, before
    # any counting: nothing shows "…" or waits
    from workbench.tui.screens import models

    models._COSTS.clear()  # only the home's cost.json can fill the table now
    models._PREPROCESS.clear()
    app2 = make_app(home, profiles_dir)
    async with app2.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app2.query_one("#source", Select).value = "official"
        app2.profile.model.source = "official"
        app2.query_one("#models-pane").show_info()
        table2 = app2.query_one("#variants", DataTable)
        assert table2.get_cell("hrnet_w18_small", "gmacs") == "1.49"
        assert table2.get_cell("hrnet_w18", "gmacs") == "3.99"
        assert "…" not in {table2.get_cell(str(k.value), "gmacs") for k in table2.rows}


@sync
async def test_weights_file_picker_and_save_profile(profiles_dir, tmp_path):
    import stat

    from textual.widgets import Input, Label

    from workbench.home import resolve_home
    from workbench.profile import load_profile
    from workbench.tui.screens.dialogs import ProfileNameDialog
    from workbench.tui.screens.file_picker import FilePicker

    ckpt = tmp_path / "ckpt" / "w18_small.pth"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"not read by the picker")
    home = resolve_home(tmp_path / "home")
    app = make_app(home, profiles_dir, mode="thread")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.pause()
        await pilot.press("w")
        assert isinstance(app.screen, FilePicker)
        app.screen.query_one("#picker-path", Input).value = str(ckpt)
        app.screen.query_one("#picker-path", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert app.profile.model.weights == str(ckpt)
        assert str(app.query_one("#weights-path").render()) == f"weights: {ckpt}"
        await pilot.press("s")
        assert isinstance(app.screen, ProfileNameDialog)
        folder = tmp_path / "home" / "profiles"
        name_input = app.screen.query_one(Input)
        assert name_input.value == "w18_small_int8_ort-cpu"  # from the choices, no clash
        shown = str(app.screen.query_one("#name-folder", Label).render())
        assert shown == f"in {folder}/"  # the full path, not "profiles/"
        name_input.value = "bad name!"
        await pilot.press("enter")
        assert isinstance(app.screen, ProfileNameDialog)  # refused, says why
        name_input.value = "mine"
        await pilot.press("enter")
        saved = folder / "mine.toml"
        assert await wait_for(pilot, lambda: app.profile_path == str(saved), 60, 0.05)
        assert not isinstance(app.screen, ProfileNameDialog)
        assert stat.S_IMODE(saved.stat().st_mode) == 0o644
        prof = load_profile(saved)
        assert prof.name == "mine" and prof.model.weights == str(ckpt)
        assert prof.description.startswith("timm:hrnet_w18_small 224, ") and "int8 on ort-cpu" in prof.description
        assert not (REPO / "profiles" / "mine.toml").exists()
        # the same name again: the dialog stays open and says why
        await pilot.press("s")
        assert app.screen.query_one(Input).value != "mine"
        app.screen.query_one(Input).value = "mine"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ProfileNameDialog)
        assert "exists; pick another name" in str(app.screen.query_one("#name-error", Label).render())


# -- Build: the bridge renders the same events the CLI printer renders ------------------------


@sync
async def test_build_pane_renders_pipeline_events(board_home, profiles_dir):
    from workbench.events import (
        Failed,
        LogLine,
        MetricRecorded,
        Progress,
        RunFinished,
        RunStarted,
        StageFinished,
        StageStarted,
    )
    from workbench.tui.app import Job
    from workbench.tui.bridge import make_sink
    from workbench.tui.widgets.stages import StageRow

    app = make_app(board_home, profiles_dir)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("2")
        job = Job(1, "demo w18_small", app.profile, "", status="running")
        app.jobs.append(job)
        sink = make_sink(app, 1)
        sink(RunStarted("run", 7, "profiles/demo.toml"))
        sink(StageStarted("model", "load timm:hrnet_w18_small"))
        sink(StageFinished("model", 1.25))
        sink(StageStarted("eval", "9 images", 9))
        for i in range(1, 6):
            sink(Progress("eval", i, 9, "img"))
        sink(LogLine("eval", "1 file(s) skipped: broken.jpg", "warning"))
        sink(MetricRecorded("", "hrnet_w18_small-int8", "throughput", 64.12, "img/s"))
        await pilot.pause()
        assert job.run_id == 7
        rows = {r.stage: r for r in app.query(StageRow)}
        assert rows["model"].state == "done" and "1.2s" in rows["model"].text()
        assert rows["eval"].state == "running" and rows["eval"].done == 5
        assert "5/9" in rows["eval"].text()
        sink(Failed("run", "cancelled by the user", 130))
        sink(RunFinished("run", 7, "cancelled", 3.0))
        await pilot.pause()
        text = screen_text(app)
        assert "run 7: profiles/demo.toml" in text
        assert "[eval] warning: 1 file(s) skipped: broken.jpg" in text
        assert "img/s 64.12" in text
        assert "error: cancelled by the user" in text
        assert "run 7 cancelled in" not in text  # a cancel is logged once, by the app
        assert rows["eval"].state == "cancelled"


@pytest.mark.slow  # a real pipeline in a child process, up to its build stage
@sync
async def test_queue_failure_shows_the_error_modal_then_cancel_stops_the_next_build(
        tmp_path, profiles_dir):
    """A real queue: a run that fails (error modal, recorded failed), then a real tiny run
    that is cancelled during its build stage (recorded cancelled, no temp files left)."""
    from workbench.home import resolve_home
    from workbench.tui.screens.error import ErrorModal
    from workbench.tui.widgets.stages import StageRow

    home = resolve_home(tmp_path / "home")
    tiny = tiny_profile(tmp_path)
    app = make_app(home, profiles_dir, profile=tiny)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.pause()
        good = app.profile.model_copy(deep=True)
        app.profile.model.weights = str(tmp_path / "nope.pth")
        app.queue_current()  # the bad one (what "r" does) ...
        app.profile = good
        app.queue_current()  # ... and the good one behind it, in the same tick
        assert [j.status for j in app.jobs] == ["running", "queued"]
        assert app.tabs.active == "build"
        # the modal, composed: pushed is not yet mounted (checking at once raced, NoMatches)
        assert await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal)
                              and bool(app.screen.query("#error-title")), 60)
        modal = app.screen
        assert str(modal.query_one("#error-title").render()) == "Bad input"
        assert "nope.pth" in str(modal.query_one("#error-message").render())
        assert app.jobs[0].status == "failed"
        await pilot.press("enter")  # close the modal
        build_row = app.screen_stack[0].query_one("#stage-build", StageRow)
        assert await wait_for(pilot, lambda: build_row.state == "running", 240, 0.1)
        await pilot.pause(0.5)
        t_cancel = time.monotonic()
        await pilot.press("c")
        # fails only on a hang: the cancel latency is printed, and measured by
        # benchmarks/tui_cancel_latency.py
        assert await wait_for(pilot, lambda: app.jobs[1].status == "cancelled", 60, 0.05)
        stopped_in = time.monotonic() - t_cancel
        outcome = app.jobs[1].pipeline.outcome
        store = Store(home.db)
        assert store.run_record(app.jobs[0].run_id)["status"] == "failed"
        assert store.run_record(app.jobs[1].run_id)["status"] == "cancelled"
        assert outcome.cancel_latency_s is not None and outcome.cancel_latency_s < 60, outcome
        assert [p for p in Path(home.root).rglob(".*") if p.is_file() or p.is_dir()] == []
        assert "cancelled" in screen_text(app)
        rid = app.jobs[1].run_id

        def log() -> str:
            return "\n".join(str(line.text) for line in app.query_one("#log").lines)

        assert await wait_for(pilot, lambda: f"run {rid} cancelled" in log(), 60, 0.05)
        await pilot.pause(0.3)
        assert log().count(f"run {rid} cancelled") == 1, log()  # once, with one time
        line = next(x for x in log().splitlines() if f"run {rid} cancelled" in x)
        assert len(re.findall(r"\d+\.\d s\b", line)) == 1, line
        print(f"cancel: {outcome.cancel_latency_s:.2f} s via {outcome.stopped_by}, "
              f"job cancelled {stopped_in:.2f} s after the key")


# -- Dataset ---------------------------------------------------------------------------------


@sync
async def test_dataset_pane_filters_and_top5(board_home, profiles_dir):
    from textual.widgets import OptionList, Static

    app = make_app(board_home, profiles_dir)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("3")
        app.open_in_dataset(f"1/{INT8}", f"1/{FP32}")
        await settle(pilot, app, "dataset-load")
        images = app.query_one("#images", OptionList)
        assert images.option_count == 4
        labels = [str(images.get_option_at_index(i).prompt) for i in range(4)]
        assert labels[0].startswith("✓ 00000001 cross")
        assert labels[1].startswith("↔ 00000009 tabby")
        assert labels[3].startswith("– 00000012")
        a = str(app.query_one("#top5-a", Static).render())
        assert "A run 1 · ort int8 pct 64" in a
        assert "✓ 918 crossword" in a and "55.0%" in a
        b = str(app.query_one("#top5-b", Static).render())
        assert "B run 1 · ort fp32 64" in b and "61.0%" in b
        image = app.query_one("#image")
        assert image.image is not None
        # true aspect: half-cells are square, so rows = columns × height / width / 2
        w, h = image.image.size
        cols, rows = image.size.width, image.size.height
        assert abs(rows - cols * h / w / 2) <= 1, (cols, rows, w, h)
        # wider than the 24 columns an old layout gave it (28: the top-5 column has room
        # for 18-cell class names)
        assert cols >= 28
        assert "truth 918 crossword" in str(app.query_one("#ds-gt", Static).render())
        # the ground truth has a row of its own: no top-5 line shares a screen row with it
        gt_row = app.query_one("#ds-gt").region.y
        for w5 in ("#top5-a", "#top5-b"):
            region = app.query_one(w5).region
            assert not region.y <= gt_row < region.y + region.height
        await pilot.press("f")  # wrong (in either run)
        assert images.option_count == 2
        await pilot.press("f")  # flipped between A and B
        flipped = [str(images.get_option_at_index(i).prompt) for i in range(images.option_count)]
        assert [f[:2] for f in flipped] == ["↔ ", "↔ "]
        await pilot.press("down")
        a = str(app.query_one("#top5-a", Static).render())
        assert "✓ 967 espresso" in a  # int8 got image 10 right ...
        b = str(app.query_one("#top5-b", Static).render())
        assert "✓" not in b.split("\n", 1)[1].split("\n")[0]  # ... fp32's top-1 was wrong
        await pilot.press("f")  # skipped
        assert images.option_count == 1
        assert "skipped: cannot identify image file" in str(app.query_one("#top5-a", Static).render())
        await pilot.press("v")  # swap A and B
        await settle(pilot, app, "dataset-load")
        assert "A run 1 · ort fp32 64" in str(app.query_one("#top5-a", Static).render())


@sync
async def test_dataset_pickers_follow_the_store_and_flipped_asks_for_b(tmp_path, profiles_dir):
    from textual.widgets import Select
    from tui_data import make_home

    home = make_home(tmp_path)
    store = Store(home.db)
    app = make_app(home, profiles_dir)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("3")
        ds = app.query_one("#dataset-pane")
        assert await wait_for(pilot, lambda: ds.a is not None, 60, 0.05)
        sa, sb = app.query_one("#run-a", Select), app.query_one("#run-b", Select)
        assert str(sa.value).startswith("2/")  # the newest ok run (3 was cancelled)
        assert sb.value == Select.NULL
        # a run recorded by another process appears without a key press
        rid = store.start_run("later", "profiles/demo.toml", "{}", "hash")
        out = home.runs / str(rid)
        (out / FP32).mkdir(parents=True)
        src = Path(store.run_record(1)["out_dir"]) / FP32 / "results.jsonl"
        (out / FP32 / "results.jsonl").write_text(src.read_text())
        store.set_out_dir(rid, str(out))
        store.finish_run(rid, "ok", "", {"run_id": rid})
        assert await wait_for(pilot, lambda: any(v == f"{rid}/{FP32}" for _l, v in sa._options), 60)
        # flipped without a run B opens B's picker instead of an empty list
        await pilot.press("f", "f")
        assert ds.filter == "flipped"
        assert sb.expanded and app.focused is not None and sb in (app.focused, *app.focused.ancestors)


# -- Leaderboard -----------------------------------------------------------------------------


@sync
async def test_leaderboard_sort_filter_mark_compare_plot(board_home, profiles_dir):
    from textual.widgets import DataTable, Input

    from workbench.tui.screens.dialogs import CompareDialog
    from workbench.tui.widgets.plot import Plot

    app = make_app(board_home, profiles_dir)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("4")
        pane = app.query_one("#leaderboard-pane")
        table = app.query_one("#board", DataTable)
        assert table.row_count == 4  # the cancelled run's row is hidden
        assert "4/5 rows · sort top1% ↓ · 1 hidden (a)" in screen_text(app)
        assert table.get_row_at(0)[2] == "ort fp32 64"  # the whole recipe, never cut
        await pilot.press("a")  # show it: it sorts after the ok rows despite its 99 %
        assert table.row_count == 5 and pane.rows[-1]["status"] == "cancelled"
        assert pane.rows[0]["status"] == "ok"
        await pilot.press("a")
        assert table.row_count == 4
        await pilot.press("o")  # throughput, best first
        assert [r["throughput"] for r in pane.rows] == [64.1, 59.1, 30.0, 24.2]
        assert table.get_row_at(0)[6] == "64.1"  # after top1% and n
        await pilot.press("o")  # p50, lowest first
        assert pane.rows[0]["p50_ms"] == pytest.approx(17.7)
        await pilot.press("O")
        assert pane.rows[0]["p50_ms"] == pytest.approx(45.9)
        plot = app.query_one("#lb-plot", Plot)
        assert [s.label for s in plot.series] == ["ort-cpu-fp32", "ort-cpu-int8"]
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"colour=red")  # an unknown column is an error line, not 0 rows
        assert "unknown column 'colour'" in screen_text(app)
        app.focused.value = ""
        await pilot.press(*"int8", "enter")
        assert table.row_count == 2 and app.focused is table
        await pilot.press("m", "down", "m")
        assert "marked 2/2" in screen_text(app)
        await pilot.press("c")
        assert isinstance(app.screen, CompareDialog)
        assert await wait_for(pilot, lambda: "skipped" in screen_text(app), 60, 0.1)
        text = screen_text(app)
        assert "img/s" in text and ("(A better)" in text or "(B better)" in text)
        await pilot.press("escape")
        await pilot.press("p")  # latency distribution of the row under the cursor
        assert plot.title.startswith("latency ms")
        assert [s.label for s in plot.series] == ["p50", "p90", "p99"]
        assert plot.series[0].y[0] < plot.series[2].y[-1]
        await pilot.press("d")  # open the two marked runs in the Dataset pane
        await settle(pilot, app, "dataset-load")
        assert app.query_one("#tabs").active == "dataset"
        ds = app.query_one("#dataset-pane")
        assert {ds.a.build, ds.b.build} == {INT8} and {ds.a.run_id, ds.b.run_id} == {1, 2}


# -- conventions: help screen, palette, keys ---------------------------------------------------


@sync
async def test_help_screen_and_palette_list_every_command(board_home, profiles_dir):
    from workbench.tui.commands import COMMANDS
    from workbench.tui.screens.help import HelpScreen

    app = make_app(board_home, profiles_dir)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        # the footer keeps the pane keys and F1 at 80 columns, on every pane
        for key in ("1", "2", "3", "4"):
            await pilot.press(key)
            await pilot.pause(0.2)
            footer = screen_text(app).splitlines()[-1]
            assert "1234" in footer and "Panes" in footer and "F1" in footer and "Help" in footer, footer
        await pilot.press("1")
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.pause()
        assert app.screen.query_one("#help-text").size.width >= 60  # the dialog's width
        # wrapped, not cut: at the dialog's width every tooltip is there in full, and the
        # sections carry the tabs' names
        from rich.console import Console

        from workbench.tui.screens.help import help_table

        console = Console(width=70, record=True, color_system=None)
        console.print(help_table())
        rendered = " ".join(console.export_text().split())
        for c in COMMANDS:
            assert " ".join(c.tooltip.split()) in rendered or all(
                w in rendered for w in c.tooltip.split()), c.id
        assert "Leaderboard pane" in rendered and "Board " not in rendered
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for c in COMMANDS:
            if c.scope != "dialog" and c.id not in ("app.palette", "app.help_q", "app.help_quit",
                                                    "app.leave_field"):
                assert any(t.endswith(f": {c.title}") for t in titles), c.id
        # a palette command runs the pane action on its pane
        cmd = next(x for x in app.get_system_commands(app.screen) if x.title == "Dataset: Filter")
        cmd.callback()
        await pilot.pause()
        assert app.query_one("#tabs").active == "dataset"
        assert app.query_one("#dataset-pane").filter == "wrong"


def test_first_frame_imports_no_torch(tmp_path):
    """The first paint happens without torch/timm (they load in a worker afterwards)."""
    code = (
        "import asyncio, os, sys, time\n"
        "os.environ['HRNET_WB_IMAGES'] = 'halfcell'\n"
        "t0 = time.perf_counter()\n"
        "from workbench.home import resolve_home\n"
        "from workbench.tui.app import WorkbenchApp\n"
        "from workbench.tui.screens.models import ModelsPane\n"
        "ModelsPane.compute_details = lambda self, *a: None  # the worker that loads torch\n"
        f"app = WorkbenchApp(home=resolve_home({str(tmp_path / 'h')!r}))\n"
        "async def main():\n"
        "    async with app.run_test(size=(80, 24)) as pilot:\n"
        "        await pilot.pause()\n"
        "        print('heavy', [m for m in ('torch', 'timm', 'onnxruntime') if m in sys.modules])\n"
        "        print('first_frame_s', round(time.perf_counter() - t0, 3))\n"
        "asyncio.run(main())\n"
    )
    env = dict(os.environ, HRNET_WB_HOME=str(tmp_path / "h"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=REPO, timeout=120)
    assert "heavy []" in out.stdout, out.stdout + out.stderr
