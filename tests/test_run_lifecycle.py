"""The one run lifecycle (``Store.run``): every command records a failing run as failed,
with the error, and a clean one as ok.

Each command runs for real through typer's CliRunner on a tiny ONNX classifier (global
average pool → 3 logits) and a 6-image folder; where a command has no cheap natural
failure, one stage function is replaced by one that raises.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from workbench.errors import Cancelled
from workbench.store import Store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cli():
    from workbench.cli import _load_commands
    from workbench.cli.app import app

    _load_commands()
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A real ONNX model with no MACs (so bench skips the sgemm probe) and a dataset."""
    import onnx
    from onnx import TensorProto, helper
    from PIL import Image

    d = tmp_path_factory.mktemp("tiny")
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])
    graph = helper.make_graph([helper.make_node("GlobalAveragePool", ["input"], ["p"]),
                               helper.make_node("Flatten", ["p"], ["logits"], axis=1)],
                              "tiny", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, d / "tiny.onnx")
    rng = np.random.default_rng(0)
    for c in ("a", "b", "c"):
        (d / "data" / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(
                d / "data" / c / f"{i}.jpg")
    return d / "tiny.onnx", d / "data"


def _last_run(home) -> dict:
    rows = Store(home.db).runs(limit=1)
    assert rows, "no run was recorded"
    return rows[0].as_dict()


def _boom(*_a, **_k):
    raise RuntimeError("boom in the stage")


def _assert_failed(r, home, name_prefix: str, error: str) -> None:
    assert r.exit_code != 0, r.output
    assert "Traceback" not in r.output
    run = _last_run(home)
    assert run["name"].startswith(name_prefix), run
    assert run["status"] == "failed", run
    assert error in run["error"], run
    assert run["seconds"] is not None


def test_store_run_states(home):
    store = Store(home.db)
    with store.run("ok-one", out_dir=lambda rid: home.runs / str(rid)) as run:
        run.summary = {"x": 1}
    assert store.run_record(run.id)["status"] == "ok"
    assert store.run_record(run.id)["summary"] == {"x": 1}
    assert (home.runs / str(run.id)).is_dir()
    with pytest.raises(Cancelled), store.run("cancel-one") as run:
        raise Cancelled("stopped")
    assert (store.run_record(run.id)["status"], store.run_record(run.id)["error"]) == ("cancelled", "stopped")
    with pytest.raises(KeyboardInterrupt), store.run("ctrl-c") as run:
        raise KeyboardInterrupt
    assert store.run_record(run.id)["status"] == "interrupted"
    # a Ctrl-C the UI sent to stop a native call reads as the user's cancel
    with pytest.raises(Cancelled), store.run("ui-cancel", cancelled=lambda: True) as run:
        raise KeyboardInterrupt
    assert store.run_record(run.id)["status"] == "cancelled"
    with pytest.raises(ZeroDivisionError), store.run("crash", out_dir=home.runs / "crash") as run:
        1 / 0  # noqa: B018
    rec = store.run_record(run.id)
    assert rec["status"] == "failed" and rec["error"].startswith("ZeroDivisionError")
    assert "ZeroDivisionError" in (home.runs / "crash" / "traceback.txt").read_text()
    # the TUI closes a run its killed child left running, and only such a run
    rid = store.start_run("orphan")
    assert store.close_orphan(rid, "cancelled", "cancelled by the user")
    assert not store.close_orphan(rid, "failed", "late")
    assert store.run_record(rid)["status"] == "cancelled"


def test_run_records_a_failing_stage(cli, home, monkeypatch):
    import workbench.pipeline as pipeline

    monkeypatch.setitem(pipeline.STAGE_FUNCS, "model", _boom)
    r = cli("run", "--profile", ROOT / "profiles" / "demo.toml", "--json", "--home", home.root)
    _assert_failed(r, home, "demo", "RuntimeError: boom in the stage")
    assert (Path(_last_run(home)["out_dir"]) / "traceback.txt").is_file()


def test_bench_profile_records_a_failing_stage(cli, home, monkeypatch):
    import workbench.pipeline as pipeline

    monkeypatch.setitem(pipeline.STAGE_FUNCS, "model", _boom)
    r = cli("bench", "--profile", ROOT / "profiles" / "demo.toml", "--json", "--home", home.root)
    _assert_failed(r, home, "bench demo", "boom in the stage")


def test_bench_target_records_a_failing_grid(cli, home, tiny, monkeypatch):
    import workbench.bench.bench_run as bench_run

    monkeypatch.setattr(bench_run, "benchmark_targets", _boom)
    r = cli("bench", tiny[0], "--batch", "1", "--json", "--home", home.root)
    _assert_failed(r, home, "bench tiny", "boom in the stage")


def test_compare_backends_records_a_failing_build(cli, home, monkeypatch):
    import workbench.side_by_side as compare

    monkeypatch.setattr(compare, "prepare_targets", _boom)
    r = cli("bench", "--compare-backends", "--variant", "hrnet_w18_small", "--json",
            "--home", home.root)
    _assert_failed(r, home, "bench --compare-backends", "boom in the stage")


def test_eval_records_a_failing_loop(cli, home, tiny, monkeypatch):
    import workbench.evaluate.run as eval_run

    monkeypatch.setattr(eval_run, "evaluate", _boom)
    r = cli("eval", tiny[0], "--data", tiny[1], "--input-size", "32", "--json", "--home", home.root)
    _assert_failed(r, home, "eval", "boom in the stage")


def test_eval_ok_is_recorded_ok(cli, home, tiny):
    r = cli("eval", tiny[0], "--data", tiny[1], "--input-size", "32", "--json", "--home", home.root)
    assert r.exit_code == 0, r.output
    run = _last_run(home)
    assert run["status"] == "ok" and run["error"] == ""


def test_build_and_sensitivity_record_their_failures(cli, home, tiny, tmp_path):
    r = cli("build", tmp_path / "gone.onnx", "--backend", "ort-cpu", "--dtype", "fp32", "--json",
            "--home", home.root)
    _assert_failed(r, home, "build", "ONNX file not found")
    r = cli("build", tiny[0], "--backend", "ort-cpu", "--dtype", "fp32", "--input-size", "32",
            "--json", "--home", home.root)
    assert r.exit_code == 0, r.output
    assert _last_run(home)["status"] == "ok"
    name = _last_run(home)["name"]
    assert name.startswith("build ")
    import json

    art = json.loads(r.output)["name"]
    r = cli("sensitivity", art, "--json", "--home", home.root)
    _assert_failed(r, home, "sensitivity", "sensitivity compares int8 with fp32")
