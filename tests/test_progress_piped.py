"""Progress without a terminal: plain periodic lines, no spinner frames, ORT lines at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from test_data_fixtures import make_tiny_onnx, make_val_folder

from workbench.cli.progress_lines import ProgressLines
from workbench.events import LogLine, Reporter

SPINNER = set("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏━╸╺")


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def clocked() -> tuple[list[str], FakeClock, ProgressLines]:
    """A ProgressLines ticking every 10 s on a fake clock, and the lines it printed."""
    out: list[str] = []
    clock = FakeClock()
    return out, clock, ProgressLines(out.append, every=10, clock=clock)


def test_progress_lines_throttle_and_give_rate_and_eta():
    out, clock, pl = clocked()
    pl.started("eval", "800 images", 800)
    pl.progress("eval", 0, 800, "img")
    for done in range(8, 401, 8):  # 8 images every 0.2 s = 40 img/s for 10 s
        clock.t += 0.2
        pl.progress("eval", done, 800, "img")
    assert out == ["[eval] 800 images", "[eval] 400/800 img  40.0 img/s  ETA 0:00:10"]
    clock.t += 1
    pl.progress("eval", 440, 800, "img")
    assert len(out) == 2  # at most one line per 10 s
    pl.finished("eval", 23.4)
    assert out[-1] == "[eval] 800/800 img done in 0:00:23"


def test_a_quiet_stage_still_gets_a_line_every_interval():
    out: list[str] = []
    pl = ProgressLines(out.append, every=0.05)
    pl.start()
    try:
        pl.started("build", "quantize", None)
        import time

        time.sleep(0.4)
    finally:
        pl.stop()
    assert out[0] == "[build] quantize"  # the stage announces itself before its first tick
    assert len(out) >= 4 and all(ln.startswith("[build] quantize running,") for ln in out[1:])


def test_a_stage_that_only_logs_is_ticked_until_it_finishes():
    out, clock, pl = clocked()
    pl.touch("build")  # `hrnet-wb build` logs before its first count
    clock.t += 10
    pl._stop.set()
    pl.progress("other", 1, 2, "x")  # unrelated; lines for 'build' come from the ticker
    assert pl.line("build", pl.stages["build"], clock.t) == "[build] running, 0:00:10 elapsed"
    pl.finished("build", 12)
    pl.touch("build")  # a late log line does not bring a finished stage back
    assert "build" not in pl.stages


def test_piped_eval_prints_periodic_plain_lines_and_no_spinner(tmp_path):
    model = make_tiny_onnx(tmp_path / "m.onnx")
    make_val_folder(tmp_path / "d", 40, size=(320, 240))
    env = dict(os.environ, HRNET_WB_PROGRESS_EVERY="0.05", HRNET_WB_HOME=str(tmp_path / "home"))
    p = subprocess.run([sys.executable, "-m", "workbench", "eval", str(model), "--data", str(tmp_path / "d"),
                        "--batch-size", "1", "--workers", "1"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = p.stderr.splitlines()
    periodic = [ln for ln in lines if ln.startswith("[eval] ") and "/40 img" in ln and "done" not in ln]
    assert periodic, p.stderr
    assert any("img/s" in ln for ln in periodic)
    assert "[eval] 40/40 img done in" in p.stderr
    assert not SPINNER & set(p.stderr + p.stdout), p.stderr
    assert "\x1b[" not in p.stderr  # no cursor movement or colour codes in a pipe
    assert "tiny" not in p.stdout or "40 images classified" in p.stdout


def test_ort_lines_are_forwarded_as_printed_and_stdout_is_restored_for_the_sink(capsys):
    from workbench.build.ranges import _OrtLines, _Quiet

    seen: list[str] = []

    def sink(ev):  # a sink that itself writes to stdout, like a JSON-lines front end
        if isinstance(ev, LogLine):
            seen.append(ev.message)
            print(f"SINK {ev.message}")

    quiet = _Quiet(_OrtLines(Reporter(sink)))
    with quiet:
        print("Collecting tensor data and making histogram ...")
        assert seen == ["ort: Collecting tensor data and making histogram ..."]  # at once
        print("partial", end="")
        assert len(seen) == 1
    quiet.sink.flush()
    assert seen[-1] == "ort: partial"
    assert "SINK ort: Collecting tensor data" in capsys.readouterr().out


def test_eval_log_names_the_build_once(tmp_path):
    """`run` used to print an anonymous '[eval] top-1 ...' line per build."""
    from workbench.backends.ort_cpu import OrtPredictor
    from workbench.data import open_dataset
    from workbench.data.preprocess import Preprocessor, preset_for
    from workbench.evaluate import evaluate

    model = make_tiny_onnx(tmp_path / "m.onnx")
    ds = open_dataset(make_val_folder(tmp_path / "d", 3, size=(96, 72)))
    events: list = []
    evaluate(OrtPredictor(model, 1), ds.samples, Preprocessor(preset_for("official", "", "", (64, 64))),
             ds.class_names, Path(tmp_path / "o"), reporter=Reporter(events.append), label="tiny-int8")
    tops = [e.message for e in events if isinstance(e, LogLine) and "top-1" in e.message]
    assert tops == [tops[0]] and tops[0].startswith("tiny-int8: top-1 ")


def test_a_stalled_count_waits_rather_than_letting_the_eta_climb():
    out, clock, pl = clocked()
    pl.started("bench", "3 target(s)", 18)
    pl.progress("bench", 0, 18, "points")
    clock.t += 20
    pl.progress("bench", 1, 18, "points")  # 20 s per point
    etas = []
    for _ in range(6):  # the next point takes far longer: no silently climbing ETA
        clock.t += 10
        etas.append(pl.line("bench", pl.stages["bench"], clock.t))
    assert etas[0] == "[bench] 1/18 points  20.0 s/point  ETA 0:05:30"
    assert etas[1] == "[bench] 1/18 points  20.0 s/point  ETA 0:05:20"  # counts down
    assert etas[-1] == "[bench] 1/18 points  20.0 s/point  ETA 0:04:40  waiting 0:01:00 on this point"
    clock.t += 10
    pl.progress("bench", 2, 18, "points")  # 70 s for that point: the ETA rises, and says so
    assert out[-1] == "[bench] 2/18 points  45.0 s/point  ETA 0:12:00, up from 0:04:30: slower than so far"
