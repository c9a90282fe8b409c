"""The first hour of a new user: the headline command without network fails in one line,
once, saying what to do; the error boundary prints each error exactly once."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


@pytest.fixture
def no_network(tmp_path, monkeypatch):
    """The hub is a closed port on 127.0.0.1; caches and home are empty."""
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("HRNET_WB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for var in ("HF_HUB_OFFLINE", "HRNET_WB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def run_cli(*args: str):
    from workbench.cli import _load_commands
    from workbench.cli.app import app

    _load_commands()
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("offline", [False, True])
def test_headline_command_without_network_is_one_line_saying_what_to_do(no_network, offline):
    r = run_cli("run", "--profile", str(REPO / "profiles" / "w18_int8.toml"), *(["--offline"] if offline else []))
    assert r.exit_code == 2
    out = r.output
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out  # printed once, not by the event printer and the boundary both
    assert out.strip().splitlines() == errors  # checked before the run starts: nothing else
    line = errors[0]
    assert "--set model.weights=random-init" in line and "hrnet-wb weights fetch hrnet_w18" in line
    assert "model.weights to a file" in line
    assert ("--offline" in line) if not offline else ("offline (--offline)" in line)
    assert "Retry" not in out and "failed in" not in out  # no hub retry loop; the error is the ending


def test_unreachable_probe_names_the_reason():
    from workbench.sources.weights_download import unreachable

    assert "Connection refused" in unreachable(f"http://127.0.0.1:{closed_port()}/x", timeout=1)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    try:
        assert unreachable(f"http://127.0.0.1:{srv.getsockname()[1]}/x", timeout=1) == ""
    finally:
        srv.close()


def test_speed_rows_measured_under_load_carry_a_mark_and_a_caption():
    from rich.console import Console

    from workbench.cli.render import leaderboard_table
    from workbench.records import LOAD_METRIC, ResultRow

    def row(run_id: int, load: float) -> ResultRow:
        return ResultRow(run_id, "r", "ok", "b", variant="hrnet_w18", dtype="int8", backend="ort-cpu",
                         metrics={"p50_ms": 40.0, "throughput": 25.0, "vs_torch": 3.1, LOAD_METRIC: load})

    con = Console(width=80, record=True)
    con.print(leaderboard_table([row(1, 0.4), row(2, 6.2)], accuracy=False))
    text = con.export_text()
    lines = text.splitlines()
    quiet = next(ln for ln in lines if ln.lstrip().startswith("1 "))
    busy = next(ln for ln in lines if ln.lstrip().startswith("2 "))
    assert "~" not in quiet and busy.count("~") == 3  # p50, img/s and ×torch
    assert "load was up to 6.2x the cores" in " ".join(text.split())
    assert max(len(ln) for ln in lines) <= 80


def test_others_load_takes_our_own_threads_off():
    from workbench.bench.limits import others_load_per_cpu

    cpus = len(__import__("os").sched_getaffinity(0))
    assert others_load_per_cpu(0.0, float(cpus), cpus) == 0.0  # only our own bench ran
    assert others_load_per_cpu(3.0 * cpus, 0.0, cpus) == 3.0


def test_run_caps_calibration_from_a_small_dataset_and_says_so(home, tmp_path):
    """w18_int8 asks for 1000 calibration images; the 13 bundled ones leave 7 to evaluate."""
    from workbench.data.preprocess import resolve_preprocessor
    from workbench.events import LogLine, Reporter
    from workbench.profile import load_profile
    from workbench.stages import RunContext, build_recipes, stage_data
    from workbench.store import Store

    prof = load_profile(REPO / "profiles" / "w18_int8.toml", [f"data.path={REPO / 'assets'}"])
    assert prof.build.calibration.count == 1000
    events: list = []
    ctx = RunContext(prof, home, Store(home.db), Reporter(events.append), 0, tmp_path)
    ctx.preprocessor = resolve_preprocessor(source="timm", variant="hrnet_w18", pretrained_tag="",
                                            input_size=(64, 64), name="auto", model_default="")
    stage_data(ctx)
    assert len(ctx.calibration.samples) == 6 and len(ctx.eval_samples) == 7
    notes = [e.message for e in events if isinstance(e, LogLine) and "capped" in e.message]
    assert notes == ["calibration capped at 6 of 13 images (half the data) so the rest can be "
                     "evaluated; set build.calibration.data for a separate calibration set"]
    assert build_recipes(ctx.profile)[-1].calibration.count == 6  # what the build records


def test_run_takes_data_flags(tmp_path, monkeypatch):
    """--data and the eval flags become the profile's [data] keys (paths from the cwd)."""
    import workbench.pipeline as pipeline

    seen = {}

    def fake_run_profile(prof, *a, **k):  # stop before any work: only the parsing is under test
        seen["data"] = prof.data
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "run_profile", fake_run_profile)
    monkeypatch.setenv("HRNET_WB_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(REPO)
    r = run_cli("run", "--profile", "profiles/w18_int8.toml", "--set", "model.weights=random-init",
                "--data", "assets", "--limit", "5",
                "--batch-size", "2", "--threads", "1")
    assert r.exit_code == 130
    d = seen["data"]
    assert Path(d.path) == REPO / "assets" and d.limit == 5 and d.batch_size == 2 and d.threads == 1
