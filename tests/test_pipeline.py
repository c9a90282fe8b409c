"""The spine end to end: demo profile → store → leaderboard, plus interruption and cancel."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from conftest import DEMO, DEMO_FAST, cli_runner

from workbench.cli.app import app
from workbench.errors import Cancelled
from workbench.events import Event, Reporter, RunFinished, StageStarted
from workbench.home import resolve_home
from workbench.pipeline import run_profile
from workbench.profile import load_profile
from workbench.store import Store

FAST = DEMO_FAST
runner = cli_runner()


def cli(*args: str, home: Path):
    """``hrnet-wb ARGS --home HOME`` in-process (exit code, stdout, stderr on the result)."""
    return runner.invoke(app, [*args, "--home", str(home)])


def leftovers(root: Path) -> list[Path]:
    """Temp files that an atomic write would leave behind if it were not atomic."""
    return [p for p in root.rglob(".*") if p.is_file() or p.is_dir()]


def test_demo_profile_end_to_end_via_cli(demo_run):
    record = demo_run.record
    assert record["ok"] and record["status"] == "ok"
    from unit_rule import check_units  # `run --json` is the one command test_unit_rule leaves here

    assert check_units(record) == []
    assert record["weights"] == "random-init"
    assert record["model"]["variant"] == "hrnet_w18_small"
    assert [b["dtype"] for b in record["builds"]] == ["fp32", "int8"]
    assert record["export"]["parity_max_abs"] <= 1e-4
    assert set(record["stage_seconds"]) == {"model", "export", "data", "build", "eval", "bench"}
    # 13 bundled images, 2 set aside for calibration, the rest evaluated by both builds
    for b in record["builds"]:
        m = b["metrics"]
        assert m["images"] == 11 and m["skipped"] == 0
        assert 0 <= m["top1"] <= m["top5"] <= 1  # fractions (the unit rule)
        assert m["p50_ms"] > 0 and m["throughput"] > 0
        out = Path(record["out_dir"]) / b["name"]
        lines = (out / "results.jsonl").read_text().splitlines()
        assert len(lines) == 11
        assert len((out / "results.txt").read_text().splitlines()) == 5 * 11
    assert leftovers(demo_run.home.artifacts) == []


def test_demo_leaderboard_in_every_format(demo_run):
    home = demo_run.home.root
    board = cli("leaderboard", "--json", home=home)
    assert board.exit_code == 0, board.output
    rows = json.loads(board.stdout)
    from unit_rule import check_units

    assert check_units(rows) == []
    by_dtype = {(r["backend"], r["dtype"]): r for r in rows}
    assert {("ort-cpu", "fp32"), ("ort-cpu", "int8"), ("torch", "fp32")} <= set(by_dtype)
    for key in (("ort-cpu", "fp32"), ("ort-cpu", "int8")):
        r = by_dtype[key]
        assert r["weights"] == "random-init" and r["variant"] == "hrnet_w18_small"
        for metric in ("top1", "top5", "p50_ms", "throughput", "vs_torch"):
            assert isinstance(r[metric], float)
    md = cli("leaderboard", "--format", "md", "--sort", "throughput", home=home)
    assert md.exit_code == 0 and md.stdout.startswith("| run_id |")
    csv = cli("leaderboard", "--format", "csv", "--where", "dtype=int8", home=home)
    assert csv.exit_code == 0 and len(csv.stdout.strip().splitlines()) == 2


def test_the_demo_again_hits_the_artifact_cache(demo_run, tmp_path, small_gemm_probe):
    home = tmp_path / "home"
    shutil.copytree(demo_run.home.root, home)  # the shared home stays as it was
    sets = [a for s in FAST for a in ("--set", s)]
    again = cli("run", "--profile", str(DEMO), *sets, "--set", "bench.enabled=false", "--json", home=home)
    assert again.exit_code == 0, again.output[-3000:]
    assert all(b["cached"] for b in json.loads(again.stdout)["builds"])
    assert leftovers(home / "artifacts") == []


class _StopAt:
    """A sink that interrupts the run when the build stage starts."""

    def __init__(self, exc: BaseException | None = None, cancel: threading.Event | None = None):
        self.exc, self.cancel = exc, cancel
        self.events: list[Event] = []

    def __call__(self, ev: Event) -> None:
        self.events.append(ev)
        if isinstance(ev, StageStarted) and ev.stage == "build":
            if self.cancel is not None:
                self.cancel.set()
            if self.exc is not None:
                raise self.exc


@pytest.mark.parametrize("how", ["ctrl-c", "cancel"])
def test_interrupted_run_is_recorded_and_leaves_no_partial_files(tmp_path, how):
    home = resolve_home(tmp_path / "home")
    prof = load_profile(DEMO, FAST + ["bench.enabled=false"])
    cancel = threading.Event()
    sink = _StopAt(KeyboardInterrupt() if how == "ctrl-c" else None,
                   cancel if how == "cancel" else None)
    with pytest.raises(KeyboardInterrupt if how == "ctrl-c" else Cancelled):
        run_profile(prof, home, Reporter(sink, cancel), str(DEMO))
    runs = Store(home.db).runs()
    assert [r.status for r in runs] == ["interrupted" if how == "ctrl-c" else "cancelled"]
    assert isinstance(sink.events[-1], RunFinished)
    assert leftovers(home.root) == []
    # no artifact was completed before the interruption, so none may exist
    assert list(home.artifacts.iterdir()) == []


def test_a_profile_can_start_from_a_given_onnx(tmp_path):
    """`model.onnx`: nothing is loaded or exported; the builds are made from the file and
    evaluated; a size the file does not take is refused before anything runs."""
    import onnx as onnx_lib
    from test_data_fixtures import make_tiny_onnx, make_val_folder

    from workbench.errors import BadInput
    from workbench.profile import parse_profile

    onnx = make_tiny_onnx(tmp_path / "tiny.onnx")
    m = onnx_lib.load(str(onnx))
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value, dims[3].dim_value = 64, 64  # a fixed input size, as an export without dynamic H/W
    onnx_lib.save(m, str(onnx))
    data = make_val_folder(tmp_path / "data", 4, size=(80, 64))
    tree = {"name": "given", "model": {"onnx": str(onnx), "variant": "tiny", "input_size": [64, 64]},
            "build": {"dtype": "int8", "calibration": {"method": "minmax", "count": 2}},
            "data": {"path": str(data)}, "bench": {"enabled": False}}
    home = resolve_home(tmp_path / "home")
    rec = run_profile(parse_profile(tree), home)
    assert rec["ok"] and rec["export"] is None and rec["model"]["weights"] == str(onnx)
    assert [b["dtype"] for b in rec["builds"]] == ["fp32", "int8"]
    assert all(b["metrics"]["images"] == 2 for b in rec["builds"])  # 2 of 4 set aside to calibrate
    meta = json.loads((Path(rec["builds"][0]["path"]).parent / "meta.json").read_text())
    assert meta["weights_id"].startswith("onnx:") and meta["export"] == {"file": "tiny.onnx"}
    tree["model"]["input_size"] = [96, 96]
    with pytest.raises(BadInput, match="fixed at 64x64"):
        run_profile(parse_profile(tree), home)
