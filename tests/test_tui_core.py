"""The TUI's plain-Python parts: command registry, leaderboard/result models, profile
writer, the run runner (a real child process) and import hygiene."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tui_data import FP32, INT8, shared_home

from workbench.errors import BadInput
from workbench.events import Failed, LogLine, Progress, RunFinished, RunStarted
from workbench.profile import Profile, load_profile
from workbench.store import Store
from workbench.tui import board, commands
from workbench.tui.profile_toml import profile_to_toml
from workbench.tui.results import filter_ids, mark, read_results, results_path
from workbench.tui.runner import PipelineJob, sweep_temp_files

# -- the command registry --------------------------------------------------------------


def test_every_binding_has_an_id_and_a_tooltip_and_ids_are_unique():
    ids = [c.id for c in commands.COMMANDS]
    assert len(ids) == len(set(ids))
    for scope in commands.SCOPES:
        for b in commands.bindings(scope):
            assert b.id and b.id.startswith(f"{scope}."), b
            assert b.tooltip and len(b.tooltip) > 15, b


def test_no_key_is_bound_twice_where_it_would_clash():
    for scope in commands.SCOPES:
        keys = [c.key for c in commands.commands_for(scope)]
        assert len(keys) == len(set(keys)), scope
    app_keys = {c.key for c in commands.commands_for("app")}
    for scope in ("models", "build", "dataset", "leaderboard"):
        clash = app_keys & {c.key for c in commands.commands_for(scope)}
        assert not clash, (scope, clash)


def test_every_command_action_exists_on_its_target():
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.screens.build import BuildPane
    from workbench.tui.screens.dataset import DatasetPane
    from workbench.tui.screens.error import ErrorModal
    from workbench.tui.screens.leaderboard import LeaderboardPane
    from workbench.tui.screens.models import ModelsPane

    targets = {"app": WorkbenchApp, "models": ModelsPane, "build": BuildPane,
               "dataset": DatasetPane, "leaderboard": LeaderboardPane, "dialog": ErrorModal}
    for c in commands.COMMANDS:
        name = c.action.split("(")[0]
        assert hasattr(targets[c.scope], f"action_{name}"), c


# -- leaderboard model ------------------------------------------------------------------


@pytest.fixture
def board_home(tmp_path_factory):
    return shared_home(tmp_path_factory)


def test_board_sort_filter_and_plot_series(board_home):
    rows = Store(board_home.db).leaderboard()
    assert len(rows) == 4
    by_thr = board.sort_rows(rows, "throughput")
    assert [r["throughput"] for r in by_thr] == [64.1, 59.1, 30.0, 24.2]
    by_p50 = board.sort_rows(rows, "p50_ms")  # lower is better: ascending
    assert by_p50[0]["p50_ms"] == pytest.approx(17.7)
    assert [r["build"] for r in board.filter_rows(rows, "int8 run_id=2")] == [INT8]
    assert len(board.filter_rows(rows, "dtype=fp32")) == 2
    series = board.accuracy_vs_throughput(rows)
    assert [s.label for s in series] == ["ort-cpu-fp32", "ort-cpu-int8"]
    assert sorted(series[1].x) == [30.0, 64.1] and sorted(series[1].y) == [25.0, 50.0]
    assert board.short_build(INT8) == "int8-percentile 64 ort-cpu"
    assert board.short_build("torch-eager-fp32") == "torch-eager-fp32"


def test_latency_distribution_reads_the_per_grid_point_metrics(board_home):
    metrics = Store(board_home.db).metrics(1)
    series = board.latency_distribution(metrics, [INT8])
    assert [s.label for s in series] == [f"{INT8} p50", f"{INT8} p90", f"{INT8} p99"]
    p50, p90, p99 = (s.y for s in series)
    assert p50 == pytest.approx((17.7, 17.7 * 1.8, 17.7 * 3.4))
    assert all(a < b < c for a, b, c in zip(p50, p90, p99, strict=True))
    assert board.grid_labels(metrics, INT8) == ["b1×t2", "b2×t2", "b4×t2"]


def test_compare_marks_the_better_side(board_home):
    rows = {(r["run_id"], r["build"]): r for r in Store(board_home.db).leaderboard()}
    cmp = {m: (a, b, d) for m, a, b, d in board.compare(rows[(1, FP32)], rows[(1, INT8)])}
    assert cmp["img/s"] == ("59.10", "64.10", "+5.00 (B better)")
    assert cmp["p50 ms"][2].endswith("(B better)") and cmp["p50 ms"][2].startswith("-16.90")
    assert cmp["top-1 %"][2] == "0.00"
    assert cmp["dtype"][:2] == ("fp32", "int8")


# -- per-image results ---------------------------------------------------------------------


def test_results_filters_all_wrong_flipped_skipped(board_home):
    out = Store(board_home.db).run_record(1)["out_dir"]
    a = read_results(results_path(out, INT8), 1, INT8)
    b = read_results(results_path(out, FP32), 1, FP32)
    ids = list(a.rows)
    assert len(ids) == 4
    assert filter_ids(a, b, "all") == ids
    assert filter_ids(a, b, "skipped") == [ids[3]]
    assert filter_ids(a, b, "flipped") == [ids[1], ids[2]]  # int8 lost 1, gained 2
    assert filter_ids(a, None, "wrong") == [ids[1]]
    assert filter_ids(a, b, "wrong") == [ids[1], ids[2]]
    assert filter_ids(a, None, "flipped") == []
    assert [mark(a.rows[i], b.rows[i]) for i in ids] == ["✓", "↔", "↔", "–"]
    assert a.rows[ids[3]].error == "cannot identify image file"
    assert a.rows[ids[0]].probs[0] == pytest.approx(0.55)


def test_results_ignore_a_torn_last_line(tmp_path):
    p = tmp_path / "b" / "results.jsonl"
    p.parent.mkdir()
    p.write_text(json.dumps({"id": "x", "path": "x.jpg", "gt": 3, "top5": [3, 1, 2, 4, 5],
                             "prob5": [0.5, 0.2, 0.1, 0.1, 0.1]}) + '\n{"id": "y", "pa')
    r = read_results(p)
    assert list(r.rows) == ["x"] and r.rows["x"].correct is True


# -- profile writer --------------------------------------------------------------------------


def test_saved_profile_round_trips_through_load_profile(tmp_path):
    prof = load_profile(Path(__file__).resolve().parents[1] / "profiles" / "demo.toml")
    prof.model.input_size = (96, 128)
    prof.build.backend = "openvino-cpu"
    prof.description = 'quotes " and \\ backslashes'
    path = tmp_path / "saved.toml"
    path.write_text(profile_to_toml(prof, "saved by a test"))
    again = load_profile(path)
    assert again.canonical_json() == prof.canonical_json()
    assert path.read_text().startswith("# saved by a test\n")


# -- the runner: a real child process, real events ------------------------------------------


def test_process_runner_reports_bad_input_and_the_store_records_failed(tmp_path):
    from workbench.home import resolve_home

    home = resolve_home(tmp_path / "home")
    prof = Profile(name="bad")
    prof.model.variant = "hrnet_w18_small"
    prof.model.weights = str(tmp_path / "missing.pth")
    events = []
    job = PipelineJob(prof, home, events.append, "inline", mode="process")
    with pytest.raises(BadInput, match="missing.pth"):
        job.run()
    kinds = [type(e) for e in events]
    assert kinds[0] is RunStarted and Failed in kinds and kinds[-1] is RunFinished
    assert job.outcome.status == "failed"
    assert Store(home.db).run_record(job.outcome.run_id)["status"] == "failed"


def test_thread_runner_cancel_before_start_raises_cancelled(tmp_path):
    from workbench.errors import Cancelled
    from workbench.home import resolve_home

    job = PipelineJob(Profile(), resolve_home(tmp_path / "h"), lambda e: None, mode="thread")
    job.cancel()
    with pytest.raises(Cancelled):
        job.run()


def test_sweep_removes_only_fresh_atomic_temp_files(tmp_path):
    import os
    import tempfile

    old = tmp_path / ".old.onnx.abcd1234.tmp"
    old.write_text("x")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    since = time.time()
    fd, fresh = tempfile.mkstemp(prefix=".model.onnx.", suffix=".tmp", dir=tmp_path)
    os.close(fd)
    fresh_dir = Path(tempfile.mkdtemp(prefix=".hrnet-int8-abc.", dir=tmp_path))
    keep = tmp_path / ".gitignore"
    keep.write_text("x")
    real = tmp_path / "model.onnx"
    real.write_text("x")
    assert sweep_temp_files([tmp_path], since) == 2
    assert not Path(fresh).exists() and not fresh_dir.exists()
    assert old.exists() and keep.exists() and real.exists()


def test_bridge_progress_messages_collapse_per_job_and_stage():
    from workbench.tui.bridge import PipelineMessage, ProgressMessage, message_for

    a = message_for(1, Progress("eval", 1, 10))
    b = message_for(1, Progress("eval", 2, 10))
    other_stage = message_for(1, Progress("bench", 2, 10))
    other_job = message_for(2, Progress("eval", 3, 10))
    log = message_for(1, LogLine("eval", "hi"))
    assert isinstance(a, ProgressMessage) and type(log) is PipelineMessage
    assert a.can_replace(b)
    assert not a.can_replace(other_stage) and not a.can_replace(other_job)
    assert not a.can_replace(log) and not log.can_replace(a)


def test_runner_module_imports_no_textual_for_the_child():
    code = ("import sys, json; import workbench.tui.runner; "
            "print(json.dumps([m for m in ('textual', 'rich', 'torch') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_halfcell_images_load_without_probing_the_terminal():
    """Half-cell images load while Textual owns stdin, so loading them must write no query
    to the terminal: a reply (``ESC[?1;2c``) would arrive as the keys ``[?1;2c``."""
    code = r"""
import fcntl, os, pty, select, struct, sys, termios
master, slave = pty.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # 80x24, no pixels
os.dup2(slave, 0)  # stdin and stdout are a TTY, as under a real terminal
sys.__stdout__ = os.fdopen(slave, "w")
os.environ["HRNET_WB_IMAGES"] = "halfcell"
from workbench.tui.widgets.image_view import prepare, protocol_name
prepare()
sys.__stdout__.flush()
ready, _, _ = select.select([master], [], [], 0.5)
print(protocol_name(), repr(os.read(master, 1024)) if ready else "silent")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["halfcell", "silent"]
