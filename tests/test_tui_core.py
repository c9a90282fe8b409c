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
    all_rows = Store(board_home.db).leaderboard()
    assert len(all_rows) == 5
    # the cancelled run's partial 99 % top-1 is hidden by default, and sorts after ok rows
    rows = board.visible_rows(all_rows, show_all=False)
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    by_top1 = board.sort_rows(all_rows, "top1")
    assert by_top1[-1]["status"] == "cancelled" and by_top1[-1]["top1"] == pytest.approx(0.99)
    assert by_top1[0]["top1"] == pytest.approx(0.50)  # fractions in rows; the pane shows percent
    by_thr = board.sort_rows(rows, "throughput")
    assert [r["throughput"] for r in by_thr] == [64.1, 59.1, 30.0, 24.2]
    by_p50 = board.sort_rows(rows, "p50_ms")  # lower is better: ascending
    assert by_p50[0]["p50_ms"] == pytest.approx(17.7)
    assert [r["build"] for r in board.filter_rows(rows, "int8 run_id=2")] == [INT8]
    assert len(board.filter_rows(rows, "dtype=fp32")) == 2
    assert len(board.filter_rows(rows, "pct")) == 2  # the recipe column is searchable too
    assert board.filter_error(rows, "dtype=fp32") == ""
    assert board.filter_error(rows, "colour=red").startswith("unknown column 'colour'")
    series = board.accuracy_vs_throughput(rows)
    assert [s.label for s in series] == ["ort-cpu-fp32", "ort-cpu-int8"]
    assert sorted(series[1].x) == [30.0, 64.1] and sorted(series[1].y) == [25.0, 50.0]


def test_the_build_column_is_the_whole_recipe_abbreviated_by_rule():
    row = {"build": "hrnet_w18-int8-percentile-3_224_192-openvino-cpu", "backend": "openvino-cpu",
           "dtype": "int8", "calibration": "percentile", "input_size": "224x192"}
    assert board.recipe(row) == "openvino int8 pct 224x192"
    assert board.recipe({**row, "backend": "ort-cpu", "dtype": "fp32", "calibration": "",
                         "input_size": "224x224"}) == "ort fp32 224"
    assert board.recipe({**row, "backend": "tensorrt", "calibration": "entropy"}) \
        == "tensorrt int8 entropy 224x192"
    assert board.recipe({"build": "torch-eager-fp32", "backend": "torch", "dtype": "fp32",
                         "input_size": "64x64"}) == "torch fp32 64"
    # no artifact recorded: the name as it is, never cut
    assert board.recipe({"build": "some-long-build-name-from-elsewhere"}) \
        == "some-long-build-name-from-elsewhere"


def test_axis_range_keeps_every_point_off_the_frame_within_limits():
    assert board.axis_range([50.0], 0, 100, min_span=2) == pytest.approx((48.8, 51.2))
    lo, hi = board.axis_range([0.1, 0.2], 0, 100, min_span=2)
    assert lo == 0 and hi > 0.2
    lo, hi = board.axis_range([25.0, 50.0], 0, 100)
    assert lo < 25 and hi > 50 and lo >= 0 and hi <= 100
    assert board.axis_range([99.5, 100.0], 0, 100, min_span=2)[1] == 100


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
    assert cmp["build"][:2] == ("ort fp32 64", "ort int8 pct 64")


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


def test_profiles_save_into_the_home_0644_with_a_matching_description(tmp_path):
    import stat

    from workbench.home import resolve_home
    from workbench.tui import profiles

    home = resolve_home(tmp_path / "home")
    folder = profiles.home_profiles(home)
    assert folder == tmp_path / "home" / "profiles"
    prof = load_profile(Path(__file__).resolve().parents[1] / "profiles" / "demo.toml")
    prof.build.backend, prof.build.dtype = "openvino-cpu", "fp32"
    name = profiles.suggest_name(prof, folder)
    assert name == "w18_small_fp32_openvino-cpu"
    path = profiles.save(prof, folder, name)
    assert path == folder / f"{name}.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    saved = load_profile(path)
    assert saved.name == name and saved.build.backend == "openvino-cpu"
    assert saved.description == "timm:hrnet_w18_small 224, random-init weights, fp32 on openvino-cpu"
    assert profiles.suggest_name(prof, folder) == f"{name}-2"  # never the name that exists
    with pytest.raises(BadInput, match="exists"):
        profiles.save(prof, folder, name)
    cwd = tmp_path / "cwd-profiles"
    cwd.mkdir()
    (cwd / "demo.toml").write_text("name = 'demo'\n")
    assert [label for label, _p in profiles.options(folder, cwd)] == [name, "demo (./profiles)"]


def test_images_keep_their_aspect_on_two_to_one_cells():
    from workbench.tui.screens.dataset import fit_image

    assert fit_image(500, 375, 33, 18) == (33, 12)  # 4:3 at 80x24: as wide as there is room
    assert fit_image(375, 500, 33, 18) == (27, 18)  # portrait: as tall as there is room
    w, h = fit_image(1000, 1000, 100, 10)  # square: twice as many columns as rows
    assert (w, h) == (20, 10)


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


def test_panes_talk_in_messages_and_never_import_the_app():
    """Issue 12 item 6: no pane imports workbench.tui.app or casts self.app to it."""
    import ast

    root = Path(__file__).resolve().parents[1] / "workbench" / "tui"
    for path in [*root.glob("screens/*.py"), *root.glob("widgets/*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "workbench.tui.app", path
        assert "WorkbenchApp" not in path.read_text(), path


def test_count_worker_prints_one_line_per_variant_without_textual(tmp_path, capsys):
    from workbench.tui import count_worker

    assert count_worker.main(["224", "224", str(tmp_path / "cost.json"), "hrnet_w18_small"]) == 0
    rec = json.loads(capsys.readouterr().out.splitlines()[0])
    assert rec["variant"] == "hrnet_w18_small"
    assert rec["costs"]["official"] == ["13.2", "1.49", "GFLOPs"]  # FACTS: 13.187 M, 1.49
    assert rec["costs"]["timm"][2] == "GMACs" and rec["errors"] == {}
    assert rec["preprocess"]["official"].startswith("official: resize short side 256 bilinear")
    check = subprocess.run([sys.executable, "-c", "import sys, workbench.tui.count_worker; "
                            "print('textual' in sys.modules, 'rich' in sys.modules)"],
                           capture_output=True, text=True, timeout=60)
    assert check.stdout.strip() == "False False"
