"""``hrnet-wb bench``: JSON record, store + leaderboard, sweet-spot exit code, bad input.

Runs the real command (typer's CliRunner, same process) on a narrow HRNet exported at
64×64 with ONNX Runtime; a few requests per point keep it to seconds.
"""

from __future__ import annotations

import json

import pytest
from test_bench import narrow  # noqa: F401  (the same narrow HRNet as the core tests)
from typer.testing import CliRunner


@pytest.fixture(scope="module")
def onnx_file(narrow):  # noqa: F811
    return narrow[1]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """One home for the module. The GEMM probe is faked quiet here (it is tested on its own
    in test_bench.py): a real probe on a busy CI box is noisy, so never cached, and would
    re-run for every command."""
    from test_bench import fake_probe

    from workbench.bench import limits
    from workbench.home import resolve_home

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(limits, "probe_gemm", fake_probe({"fp32": 100.0, "bf16": 300.0,
                                                     "int8": 400.0}))
        yield resolve_home(tmp_path_factory.mktemp("benchcli-home"))


@pytest.fixture(scope="module")
def cli():
    from workbench.cli import _load_commands
    from workbench.cli.app import app

    _load_commands()
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


def test_bench_json_record_is_stored_and_on_the_leaderboard(cli, onnx_file, home):
    r = cli("bench", onnx_file, "--batch", "1,2", "--iterations", "4", "--rounds", "2",
            "--warmup", "1", "--latency-budget-ms", "60000", "--json", "--home", home.root)
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)
    from unit_rule import check_units  # the unit rule over `bench --json` (see test_unit_rule.py)

    assert check_units(rec) == []
    assert rec["ok"] is True and rec["budget_met"] is True and rec["backend"] == "ort-cpu"
    assert rec["input_size"] == [64, 64] and rec["dtype"] == "fp32"
    h = rec["headline"]
    for key in ("p50_ms", "p90_ms", "p99_ms", "throughput", "spread", "vs_roofline", "gflops",
                "limit_img_s", "size_mb"):
        assert key in h, key
    assert h["p50_ms"] <= h["p90_ms"] <= h["p99_ms"]
    assert rec["sweet_spot"]["throughput"] == h["throughput"]  # a huge budget admits every row
    assert "vs_torch" not in h and any("baseline" in n for n in rec["notes"])
    rows = rec["results"][0]["rows"]
    assert [(x["batch"], x["streams"]) for x in rows] == [(1, 1), (2, 1)]
    assert all(x["vs_roofline"] > 0 for x in rows)
    # what ran, read back from the session, and the CPU it ran on
    assert rec["precision"] == "f32" and rec["runtime"]["runtime"] == "onnxruntime"
    assert all(x["limit_precision"] == "fp32" and x["runtime"]["threads"] >= 1 for x in rows)
    assert rec["limits"][str(rows[0]["threads"])]["fp32"]["gops"] == 100.0
    from workbench.hardware import fingerprint

    assert rec["fingerprint"] == fingerprint()

    board = cli("leaderboard", "--format", "json", "--home", home.root)
    assert board.exit_code == 0, board.output
    mine = [b for b in json.loads(board.stdout) if b["run_id"] == rec["run_id"]]
    assert len(mine) == 1
    assert mine[0]["p50_ms"] == pytest.approx(h["p50_ms"])
    assert mine[0]["throughput"] == pytest.approx(h["throughput"])
    assert mine[0]["backend"] == "ort-cpu" and mine[0]["dtype"] == "fp32"
    assert mine[0]["precision"] == "f32" and mine[0]["fingerprint"] == fingerprint()


def test_openvino_bench_on_real_images_says_what_ran(cli, onnx_file, home):
    from pathlib import Path

    from workbench.store import Store

    assets = Path(__file__).resolve().parents[1] / "assets"
    r = cli("bench", onnx_file, "--backend", "openvino-cpu", "--inputs", "real", "--data", assets,
            "--batch", "1,2", "--iterations", "2", "--rounds", "1", "--warmup", "1", "--json",
            "--home", home.root)
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)
    assert rec["inputs"] == "real" and any("real image" in n for n in rec["notes"])
    rt = rec["runtime"]
    assert rt["runtime"] == "openvino" and rt["inference_precision"] == "f32"
    assert rt["compute_precision"] == "f32" and rt["streams"] == 1 and rt["hint"] == "LATENCY"
    stored = Store(home.db).runtime(rec["run_id"])
    assert [(s["stage"], s["precision"]) for s in stored] == [("bench", "f32")]
    assert stored[0]["settings"]["inputs"] == "real"
    r = cli("bench", onnx_file, "--inputs", "real", "--json", "--home", home.root)
    assert r.exit_code == 2 and "--data" in json.loads(r.stdout)["error"]


def test_budget_nobody_meets_exits_1(cli, onnx_file, home):
    r = cli("bench", onnx_file, "--batch", "1", "--iterations", "2", "--rounds", "1",
            "--warmup", "1", "--latency-budget-ms", "0.001", "--json", "--no-record",
            "--home", home.root)
    assert r.exit_code == 1
    rec = json.loads(r.stdout)
    assert rec["ok"] is False and rec["budget_met"] is False and rec["sweet_spot"] is None
    assert rec["run_id"] is None


def test_torch_backend_needs_a_variant_and_runs_with_one(cli, home):
    r = cli("bench", "--backend", "torch", "--json", "--home", home.root)
    assert r.exit_code == 2 and "--variant" in json.loads(r.stdout)["error"]
    r = cli("bench", "--backend", "torch", "--variant", "hrnet_w18_small", "--input-size", "64",
            "--batch", "1", "--iterations", "2", "--rounds", "1", "--warmup", "1", "--json",
            "--no-record", "--home", home.root)
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)
    assert rec["backend"] == "torch" and rec["results"][0]["rows"][0]["requests"] == 2
    # hrnet_w18_small: 1.49 GMACs/2^30 at 224 (FACTS §3) → scaled by (64/224)^2
    assert rec["headline"]["gmacs"] == pytest.approx(1.49 * 2**30 / 1e9 * (64 / 224) ** 2, rel=0.02)


@pytest.mark.parametrize("args, message", [
    (["no/such/model.onnx"], "no such file"),
    (["{onnx}", "--batch", "0"], "--batch"),
    (["{onnx}", "--threads", "x"], "--threads"),
    (["{onnx}", "--input-size", "100"], "multiple of 32"),
    (["{onnx}", "--input-size", "96"], "fixed at 64x64"),
    (["{onnx}", "--backend", "tensorrtx"], "--backend"),
    (["{onnx}", "--iterations", "0"], "iterations"),
])
def test_bad_input_is_one_line_and_exit_2(cli, onnx_file, home, args, message, tmp_path):
    args = [a.replace("{onnx}", str(onnx_file)) for a in args]
    r = cli("bench", *args, "--home", home.root)
    assert r.exit_code == 2, r.output
    assert message in r.stderr and "Traceback" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1
