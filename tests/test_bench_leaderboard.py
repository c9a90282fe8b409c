"""The leaderboard joins speed with accuracy and build config, filters, sorts and exports.

The store is filled the way the workbench fills it: artifacts registered with their build
config, accuracy recorded by an eval run, speed by a separate ``bench`` run (grid points
with params, headline figures without) — so ``--by artifact`` must join the two runs.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

FP32, INT8, BASE = "k-fp32", "k-int8", "torch-eager:random-init:hrnet_w18:seed0"


@pytest.fixture
def board_home(home):
    from workbench.store import Store

    store = Store(home.db)
    for key, name, dtype, calib, backend in (
        (FP32, "hrnet_w18-fp32-none-3_224_224-ort-cpu", "fp32", "", "ort-cpu"),
        (INT8, "hrnet_w18-int8-percentile-3_224_224-ort-cpu", "int8", "percentile", "ort-cpu"),
    ):
        store.add_artifact(key, name, "artifact", f"/a/{key}/model.onnx", source="timm",
                           variant="hrnet_w18", weights="/w/hrnet_w18.pth", backend=backend,
                           dtype=dtype, calibration=calib, input_size="224x224")
    store.add_artifact(BASE, "torch-eager-fp32", "baseline", "", source="timm", variant="hrnet_w18",
                       weights="/w/hrnet_w18.pth", backend="torch", dtype="fp32",
                       input_size="224x224")
    ev = store.start_run("eval w18")
    for key, name, top1 in ((FP32, "hrnet_w18-fp32-none-3_224_224-ort-cpu", 76.8),
                            (INT8, "hrnet_w18-int8-percentile-3_224_224-ort-cpu", 76.2)):
        store.add_metric(ev, name, "top1", top1, "%", key)
        store.add_metric(ev, name, "top5", top1 + 16.5, "%", key)
    store.finish_run(ev, "ok")
    bench = store.start_run("bench w18")
    for key, name, p50, tput in ((BASE, "torch-eager-fp32", 235.0, 6.9),
                                 (FP32, "hrnet_w18-fp32-none-3_224_224-ort-cpu", 91.0, 11.4),
                                 (INT8, "hrnet_w18-int8-percentile-3_224_224-ort-cpu", 66.0, 20.2)):
        store.add_metric(bench, name, "p50_ms", p50, "ms", key, {"batch": 1, "streams": 1, "threads": 2})
        for metric, value in (("p50_ms", p50), ("p99_ms", p50 * 1.1), ("throughput", tput),
                              ("vs_torch", tput / 6.9), ("vs_roofline", tput / 11.8),
                              ("spread", 0.05)):
            store.add_metric(bench, name, metric, value, "", key)
    store.finish_run(bench, "ok")
    return home


@pytest.fixture(scope="module")
def cli():
    from workbench.cli import _load_commands
    from workbench.cli.app import app

    _load_commands()
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def test_by_artifact_joins_accuracy_and_speed(board_home):
    from workbench.store import Store

    rows = Store(board_home.db).leaderboard(group="artifact")
    by_dtype = {(r["backend"], r["dtype"]): r for r in rows}
    assert set(by_dtype) == {("ort-cpu", "fp32"), ("ort-cpu", "int8"), ("torch", "fp32")}
    int8 = by_dtype[("ort-cpu", "int8")]
    assert int8["top1"] == pytest.approx(0.762) and int8["p50_ms"] == 66.0 and int8["throughput"] == 20.2
    assert int8["calibration"] == "percentile" and int8["variant"] == "hrnet_w18"
    assert int8["vs_torch"] == pytest.approx(20.2 / 6.9)
    # per run, accuracy and speed stay in separate rows
    per_run = Store(board_home.db).leaderboard()
    assert len(per_run) == 5 and not any("top1" in r and "p50_ms" in r for r in per_run)


def test_cli_by_artifact_where_sort_and_three_formats(cli, board_home):
    r = cli("leaderboard", "--by", "artifact", "--where", "backend=ort-cpu", "--sort", "throughput",
            "--format", "json", "--home", board_home.root)
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [x["dtype"] for x in rows] == ["int8", "fp32"]  # best throughput first
    assert all("top1" in x and "p99_ms" in x for x in rows)

    r = cli("leaderboard", "--by", "artifact", "--where", "top1>=0.765", "--format", "csv",
            "--home", board_home.root)
    assert r.exit_code == 0, r.output
    table = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [x["dtype"] for x in table] == ["fp32"]
    for col in ("top1", "p50_ms", "p99_ms", "throughput", "vs_torch", "vs_roofline", "spread",
                "calibration", "backend"):
        assert col in table[0], col

    r = cli("leaderboard", "--by", "artifact", "--where", "p50_ms<100", "--sort", "p50_ms",
            "--format", "md", "--home", board_home.root)
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("|")]
    assert len(lines) == 2 + 2  # header, rule, int8 then fp32
    assert "int8" in lines[2] and "fp32" in lines[3]

    r = cli("leaderboard", "--where", "p50_ms~100", "--home", board_home.root)
    assert r.exit_code == 2 and "--where" in r.stderr
    r = cli("leaderboard", "--by", "nothing", "--home", board_home.root)
    assert r.exit_code == 2


def test_precision_and_cpu_are_on_every_row_and_mixed_cpus_are_named(board_home, cli, fake_cpu):
    """Speed rows from two CPUs are never put side by side silently."""
    from conftest import AVX512_BF16

    from workbench.hardware import detect_cpu
    from workbench.store import Store

    here = detect_cpu().fingerprint
    store = Store(board_home.db)
    bench = [r for r in store.runs() if r.name == "bench w18"][0].id
    assert store.machine(bench)["fingerprint"] == here
    store.add_runtime(bench, "hrnet_w18-int8-percentile-3_224_224-ort-cpu",
                      {"runtime": "onnxruntime", "version": "1", "compute_precision": "int8",
                       "inference_precision": "f32", "streams": 1, "threads": 2,
                       "hint": "ORT_SEQUENTIAL"}, INT8, "bench")
    rows = json.loads(cli("leaderboard", "--json").stdout)
    assert {r["fingerprint"] for r in rows if r.get("throughput")} == {here}
    assert all(r["speed_note"] == "" for r in rows)
    int8 = next(r for r in rows if r["build"].startswith("hrnet_w18-int8") and r.get("throughput"))
    assert int8["precision"] == "int8" and int8["runtime"] == "onnxruntime 1"
    # the same build measured on another CPU
    other = fake_cpu(AVX512_BF16).fingerprint
    assert other != here
    run = store.start_run("bench w18 elsewhere")
    store.add_metric(run, "hrnet_w18-fp32-none-3_224_224-ort-cpu", "throughput", 17.5, "img/s", FP32)
    store.finish_run(run, "ok")
    rows = json.loads(cli("leaderboard", "--json").stdout)
    speed = [r for r in rows if r.get("throughput") is not None]
    assert {r["fingerprint"] for r in speed} == {here, other}
    assert all("not comparable" in r["speed_note"] for r in speed)
    table = cli("leaderboard").stdout
    assert "2 CPUs" in table and "17.5!" in table
    md = cli("leaderboard", "--format", "md").stdout
    assert "fingerprint" in md.splitlines()[0] and other in md
