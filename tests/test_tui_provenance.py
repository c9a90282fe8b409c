"""The TUI leaderboard says what ran and which eval: the precision the runtime reported
when it is not the build's dtype, a ``!`` with a caption when speed comes from several
CPUs, the image count beside top-1, and the eval identity and runtime settings in the
row's detail and in the compare dialog (all read through Store.leaderboard)."""

from __future__ import annotations

import os

os.environ["HRNET_WB_IMAGES"] = "halfcell"

import pytest
from tui_data import OV_FP32, make_precision_home, shared_home

from workbench.store import Store
from workbench.tui import board


def sync(fn):
    """Run an async Pilot test with asyncio (no async pytest plugin is a dependency)."""
    import asyncio
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


@pytest.fixture(scope="module")
def precision_home(tmp_path_factory):
    return make_precision_home(tmp_path_factory.mktemp("tui-precision"))


def _rows(home):
    return Store(home.db).leaderboard()


def test_ran_column_shows_only_when_a_build_ran_another_precision(precision_home, tmp_path_factory):
    rows = _rows(precision_home)
    keys = [c[0] for c in board.visible_columns(rows)]
    assert keys.index("images") == keys.index("top1") + 1  # n beside top-1
    assert "ran" in keys
    bf16 = next(r for r in rows if r["run_id"] == 2)
    assert board.ran_differs(bf16) and board.cell(bf16, "ran", "{}") == "bf16"
    int8 = next(r for r in rows if r["dtype"] == "int8")
    assert not board.ran_differs(int8) and board.cell(int8, "ran", "{}") == "int8"
    # the fixed store of the other tests ran nothing else than it built: no 'ran' column
    plain = Store(shared_home(tmp_path_factory).db).leaderboard()
    assert "ran" not in [c[0] for c in board.visible_columns(plain)]


def test_the_cli_table_reads_every_row_as_the_tui_pane_does(precision_home):
    """One view model (workbench.board_view): the CLI's table shows each shared column of a
    row in the TUI's words, ``ran`` included (the runtime's 'f32' reads 'fp32' in both)."""
    import io

    from rich.console import Console

    from workbench.cli.render import leaderboard_table
    from workbench.records import ResultRow

    rows = _rows(precision_home)
    con = Console(width=120, record=True, file=io.StringIO())
    con.print(leaderboard_table([ResultRow.from_dict(r) for r in rows]))
    lines = [ln.split() for ln in con.export_text().splitlines()]
    for r in rows:
        want = [board.cell(r, k, spec) for k, _h, spec, _w in board.COLUMNS
                if k in ("run_id", "top1", "images", "p50_ms", "throughput", "ran")]
        assert any(all(w in ln for w in want) for ln in lines), (want, lines)
    assert not any("f32" in ln for ln in lines)


def test_speed_from_two_cpus_is_marked_and_explained(precision_home):
    rows = _rows(precision_home)
    assert board.speed_machines(rows) == ["amx-2222222222", "avx512-1111111111"]
    assert all(board.cell(r, "throughput", "{:.1f}").endswith("!") for r in rows)
    assert board.speed_caption(rows).startswith("! img/s from 2 CPUs")
    one_cpu = [r for r in rows if r["run_id"] == 1]
    for r in one_cpu:
        r["speed_note"] = ""
    assert board.speed_caption(one_cpu) == ""
    assert not board.cell(one_cpu[0], "throughput", "{:.1f}").endswith("!")


def test_detail_names_the_eval_what_ran_and_the_cpu(precision_home):
    rows = _rows(precision_home)
    smoke = dict(board.detail(next(r for r in rows if r["run_id"] == 2)))
    assert smoke["eval"] == ("run 2: 8 images, imagenet-val /data/val (data 1a2b3c4d5e6f), "
                             "--limit 8")
    assert smoke["ran (eval)"] == "bf16" and smoke["ran (speed)"] == "bf16"
    assert smoke["runtime"] == "openvino 2026.4"
    assert smoke["settings"] == "LATENCY · 1 stream, 2 threads"
    assert smoke["CPU"] == "amx-2222222222"
    assert "not comparable" in smoke["!"]
    assert smoke["accuracy"] == "top-1 % 75.00  top-5 % 95.00"


def test_compare_puts_eval_data_and_precision_side_by_side(precision_home):
    rows = _rows(precision_home)
    a = next(r for r in rows if r["run_id"] == 1 and r["build"] == OV_FP32)
    b = next(r for r in rows if r["run_id"] == 2)
    table = {m: (va, vb, d) for m, va, vb, d in board.compare(a, b)}
    assert table["ran (speed)"] == ("fp32", "bf16", "differs")
    assert table["eval data"] == ("imagenet-val 1a2b3c4d", "imagenet-val 1a2b3c4d --limit 8",
                                  "differs")
    assert table["images"][:2] == ("50", "8")
    assert table["CPU"][2] == "differs" and table["runtime"][2] == ""


@sync
async def test_leaderboard_pane_shows_ran_n_and_the_caption_and_opens_the_detail(precision_home,
                                                                                  tmp_path):
    from textual.widgets import DataTable, Label

    from workbench.tui.app import WorkbenchApp
    from workbench.tui.screens.dialogs import DetailDialog

    app = WorkbenchApp(home=precision_home, profiles_dir=tmp_path, run_mode="thread")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        for _ in range(1200):  # up to 60 s: a loaded machine
            if app.leaderboard_pane is not None and app.leaderboard_pane.is_mounted:
                break
            await pilot.pause(0.05)
        await pilot.pause()
        pane = app.leaderboard_pane
        table = pane.query_one("#board", DataTable)
        for _ in range(1200):  # up to 60 s: a loaded machine
            if table.row_count:
                break
            await pilot.pause(0.05)
        for _ in range(1200):  # up to 60 s; the columns that do not fit leave after the first layout
            if sum(c.get_render_width(table) for c in table.columns.values()) <= 80:
                break
            await pilot.pause(0.05)
        headers = [str(c.label) for c in table.columns.values()]
        # at 80 columns: the columns that fit whole (the detail dialog has the rest)
        assert headers[:8] == ["", "run", "build", "top1%", "n", "p50ms", "img/s", "ran"]
        assert sum(c.get_render_width(table) for c in table.columns.values()) <= 80
        first = [str(c) for c in table.get_row_at(0)]
        assert first[2:8] == ["openvino fp32 64", "75.00", "8", "8.3", "120.0!", "bf16"]
        note = pane.query_one("#lb-note", Label)
        assert note.display and "2 CPUs" in str(note.content)
        for key in ("enter", "i"):  # Enter on the row, or i
            for _ in range(1200):  # up to 60 s; focus lands on the table once the pane is shown
                if app.focused is table:
                    break
                await pilot.pause(0.05)
            await pilot.press(key)
            for _ in range(1200):  # up to 60 s: a loaded machine
                if isinstance(app.screen, DetailDialog):
                    break
                await pilot.pause(0.05)
            assert isinstance(app.screen, DetailDialog), key
            await pilot.press("escape")
            await pilot.pause()


@sync
async def test_detail_names_the_gpu_a_build_ran_on(tmp_path):
    """A torch-cuda build's runtime settings carry the GPU (details.gpu, as torch-cuda's
    runtime_settings records it); the detail dialog shows its name beside the CPU's. The
    row is written through the Store API as a bench records it."""
    from unittest import mock

    from textual.widgets import DataTable, Static
    from tui_data import _TestCPU

    from workbench.home import resolve_home
    from workbench.runtime_settings import RuntimeSettings
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.screens.dialogs import DetailDialog

    home = resolve_home(tmp_path / "home")
    store = Store(home.db)
    build, key = "hrnet_w18_small-fp16-none-3_64_64-torch-cuda", "key-cuda"
    with mock.patch("workbench.hardware.detect_cpu", return_value=_TestCPU("avx512-1111111111")):
        rid = store.start_run("cuda", "profiles/demo.toml", "{}", "hash")
    store.add_artifact(key, build, "artifact", str(home.artifacts / build), source="timm",
                       variant="hrnet_w18_small", weights="w18_small.pth", backend="torch-cuda",
                       dtype="fp16", input_size="64x64")
    for name, value, unit in (("throughput", 2400.0, "img/s"), ("p50_ms", 1.2, "ms")):
        store.add_metric(rid, build, name, value, unit, key)
    gpu = {"name": "NVIDIA H200", "sm_count": 132, "memory_mib": 143771, "capability": "9.0",
           "driver": "570.86", "cuda": "12.8", "torch": "2.8.0", "fingerprint": "gpu-0a1b2c3d4e"}
    settings = RuntimeSettings(runtime="torch", version="2.8.0", inference_precision="f16",
                               compute_precision="f16", threads=None, streams=1, hint="eager",
                               details={"device": "cuda:0", "gpu": gpu}).as_dict()
    store.add_runtime(rid, build, {**settings, "fingerprint": "avx512-1111111111+gpu-0a1b2c3d4e"},
                      key, "bench")
    store.finish_run(rid, "ok", "", {"run_id": rid, "status": "ok"})

    app = WorkbenchApp(home=home, profiles_dir=tmp_path, run_mode="thread")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        for _ in range(1200):  # up to 60 s: a loaded machine
            pane = app.leaderboard_pane
            if pane is not None and pane.is_mounted and pane.query_one("#board", DataTable).row_count:
                break
            await pilot.pause(0.05)
        pane.query_one("#board", DataTable).focus()
        await pilot.press("i")
        for _ in range(1200):
            if isinstance(app.screen, DetailDialog):
                break
            await pilot.pause(0.05)
        dialog = app.screen
        assert isinstance(dialog, DetailDialog)
        lines = dict(board.detail(dialog.row))
        assert lines["GPU"] == "NVIDIA H200 (132 SMs, 143771 MiB) · gpu-0a1b2c3d4e"
        assert lines["CPU"].endswith("avx512-1111111111")
        shown = [str(w.render()) for w in dialog.query(".detail-value").results(Static)]
        assert "NVIDIA H200 (132 SMs, 143771 MiB) · gpu-0a1b2c3d4e" in shown
        await pilot.press("escape")
    # a build whose speed ran on the CPU and eval on the GPU says so; none on a GPU: no line
    from workbench.tui.screens.leaderboard import gpu_text

    on_cpu = {"settings": {"details": {"device": "cpu"}}, "build": build}
    on_gpu = {"settings": settings, "build": build}
    assert gpu_text([{**on_cpu, "stage": "bench"}, {**on_gpu, "stage": "eval"}], build) == \
        "NVIDIA H200 (132 SMs, 143771 MiB) (eval) · gpu-0a1b2c3d4e"
    assert gpu_text([{**on_cpu, "stage": "bench"}], build) == ""
    assert "GPU" not in dict(board.detail({**dialog.row, "gpu_name": ""}))
