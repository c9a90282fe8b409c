"""compare: agreement, flips with the ground truth's rank, McNemar's exact test."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
from test_data_fixtures import make_tiny_onnx, make_val_folder
from typer.testing import CliRunner

from workbench.errors import BadInput
from workbench.evaluate import compare_results, find_results, mcnemar_exact, run_eval


def _exact(b: int, c: int) -> float:
    n = b + c
    return float(min(Fraction(1), Fraction(2 * sum(math.comb(n, i) for i in range(min(b, c) + 1)), 2**n)))


def test_mcnemar_exact_known_values():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)  # 2 * (1 + 10) / 2**10
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)
    # the log-space branch (> 2,000 discordant pairs) against exact integers
    assert mcnemar_exact(1450, 1600) == pytest.approx(_exact(1450, 1600), rel=1e-9)
    assert mcnemar_exact(1000, 1200) == pytest.approx(_exact(1000, 1200), rel=1e-12)


def _write(path: Path, rows: list[tuple[str, int | None, list[int]]]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "path": i, "gt": gt, "top5": t, "prob5": [0.2] * 5}) + "\n"
                            for i, gt, t in rows))
    return path


def test_compare_counts_flips_ranks_and_discordant_pairs(tmp_path):
    a = _write(tmp_path / "a.jsonl", [
        ("x1", 3, [3, 1, 2, 4, 5]),   # both right
        ("x2", 3, [3, 1, 2, 4, 5]),   # A right, B wrong (gt rank 2 in B)
        ("x3", 7, [1, 2, 3, 4, 5]),   # A wrong (gt not in top-5), B right
        ("x4", 9, [8, 9, 1, 2, 3]),   # both wrong, same top-1
        ("x5", 9, [8, 1, 2, 3, 4]),   # both wrong, different top-1
        ("only_a", 1, [1, 2, 3, 4, 5]),
    ])
    b = _write(tmp_path / "b.jsonl", [
        ("x1", 3, [3, 1, 2, 4, 5]),
        ("x2", 3, [1, 3, 2, 4, 5]),
        ("x3", 7, [7, 1, 2, 3, 4]),
        ("x4", 9, [8, 1, 2, 3, 9]),
        ("x5", 9, [6, 2, 9, 3, 4]),
        ("only_b", None, [1, 2, 3, 4, 5]),
    ])
    r = compare_results(a, b)
    assert (r["images"], r["only_in_a"], r["only_in_b"]) == (5, 1, 1)
    assert (r["agree"], r["agreement"]) == (2, 0.4)
    flips = {f["id"]: f for f in r["flips"]}
    assert sorted(flips) == ["x2", "x3", "x5"]
    assert (flips["x2"]["a_gt_rank"], flips["x2"]["b_gt_rank"]) == (1, 2)
    assert (flips["x3"]["a_gt_rank"], flips["x3"]["b_gt_rank"]) == (None, 1)
    assert (flips["x5"]["a_gt_rank"], flips["x5"]["b_gt_rank"], flips["x5"]["b_top1"]) == (None, 3, 6)
    assert r["table"] == {"both_right": 1, "a_right_b_wrong": 1, "a_wrong_b_right": 1, "both_wrong": 2}
    assert r["mcnemar_p"] == 1.0 and r["top1_a"] == r["top1_b"] == 0.4


def test_compare_two_recorded_eval_runs_from_the_cli(tmp_path, home):
    from workbench.cli import _load_commands
    from workbench.cli.app import app

    make_val_folder(tmp_path / "data", 12, size=(96, 64))
    m1 = make_tiny_onnx(tmp_path / "m1.onnx", seed=0)
    m2 = make_tiny_onnx(tmp_path / "m2.onnx", seed=1)
    r1 = run_eval(str(m1), str(tmp_path / "data"), home=home, input_size=(64, 64))
    r2 = run_eval(str(m2), str(tmp_path / "data"), home=home, input_size=(64, 64), preprocess="vastai")
    assert find_results(str(r1["run_id"]), home) == Path(r1["results_jsonl"])
    _load_commands()
    runner = CliRunner()
    res = runner.invoke(app, ["compare", str(r1["run_id"]), str(r2["run_id"]), "--json", "--home", str(home.root)])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    expected = compare_results(Path(r1["results_jsonl"]), Path(r2["results_jsonl"]))
    assert rec["agreement"] == expected["agreement"] < 1.0  # two different random models disagree
    assert len(rec["flips"]) == 12 - rec["agree"] and rec["mcnemar_p"] == expected["mcnemar_p"]
    res = runner.invoke(app, ["compare", str(r1["run_id"]), r2["results_jsonl"], "--home", str(home.root)])
    assert res.exit_code == 0, res.output
    assert "top-1 agreement" in res.stdout and "McNemar p =" in res.stdout and "top-1 flips" in res.stdout
    res = runner.invoke(app, ["compare", "999", "1", "--home", str(home.root)])
    assert res.exit_code == 2 and "run 999 is not in" in res.output


def test_find_results_needs_a_build_when_a_run_has_several(tmp_path, home):
    (tmp_path / "run" / "fp32").mkdir(parents=True)
    (tmp_path / "run" / "int8").mkdir()
    for b in ("fp32", "int8"):
        _write(tmp_path / "run" / b / "results.jsonl", [("x", 1, [1, 2, 3, 4, 5])])
    with pytest.raises(BadInput, match="holds 2 builds"):
        find_results(str(tmp_path / "run"), home)
    from workbench.store import Store

    rid = Store(home.db).start_run("r", out_dir=str(tmp_path / "run"))
    assert find_results(f"{rid}:int8", home) == tmp_path / "run" / "int8" / "results.jsonl"
