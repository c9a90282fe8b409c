"""One unit rule (issue 17): every command's --json output holds fractions, never percent,
and int counts; the leaderboard's CSV too. A command added without a check here fails
``test_every_command_is_checked``.

Everything runs for real on a tiny conv net (64x64) and a dozen generated JPEGs. ``run``,
``bench``, ``export`` and ``models`` are checked where their tests already produce the JSON (repeating
them here would cost a model export, a demo run, an sgemm probe and nine model builds).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from test_data_fixtures import make_tiny_onnx, make_val_folder
from typer.testing import CliRunner
from unit_rule import check_units

ELSEWHERE = {"run": "test_pipeline.py", "bench": "test_bench_cli.py", "export": "test_export_onnx.py",
             "models": "test_models_cmd.py", "sweep": "test_sweep_ray.py"}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from workbench.cli import _load_commands
    from workbench.cli.app import app
    from workbench.home import resolve_home

    _load_commands()
    root = tmp_path_factory.mktemp("unit-rule")
    home = resolve_home(root / "home")
    model = make_tiny_onnx(root / "tiny.onnx")
    data = make_val_folder(root / "data", 12, size=(96, 72))
    runner = CliRunner()

    def cli(*args, code: int = 0) -> object:
        argv = [str(a) for a in args] + ["--json", "--home", str(home.root)]
        r = runner.invoke(app, argv)
        assert r.exit_code == code, (argv, r.output[-2000:])
        out = json.loads(r.stdout)
        problems = check_units(out)
        assert problems == [], (argv, problems)
        return out

    return {"cli": cli, "home": home, "model": model, "data": data, "root": root}


@pytest.fixture(scope="module")
def evaluated(env):
    """An int8 build and two evals in the module's home: what the leaderboard reads."""
    cli, data, model = env["cli"], env["data"], env["model"]
    build = cli("build", model, "--dtype", "int8", "--method", "minmax", "--count", "3", "--data", data,
                "--input-size", "64")
    a = cli("eval", model, "--data", data, "--input-size", "64")
    b = cli("eval", build["name"], "--data", data)
    return build["name"], a, b


def test_eval_compare_topk_npz_runs_leaderboard(env, evaluated):
    cli, data = env["cli"], env["data"]
    name, a, b = evaluated
    assert b["calibration"]["excluded"] == 3 and b["n"] == 9
    cli("eval", name, "--data", data, "--limit", "2")
    cmp = cli("compare", a["run_id"], b["run_id"])
    assert cmp["images"] == 9
    cli("eval-topk", a["results_txt"])
    cli("npz", data, "--out", env["root"] / "npz", "--limit", "3")
    cli("runs")
    rows = cli("leaderboard")
    assert rows and all(isinstance(r.get("images"), int) for r in rows if "images" in r)
    art = cli("leaderboard", "--by", "artifact")
    assert any(r.get("eval_choice") for r in art)
    cli("sensitivity", name, "--images", "2")
    cli("report", "--out", env["root"] / "report.html")
    cli("eval", "no-such-artifact", "--data", data, code=2)  # errors are JSON too


def test_leaderboard_csv_holds_fractions_and_int_counts(env, evaluated):
    from workbench.cli.app import app

    r = CliRunner().invoke(app, ["leaderboard", "--format", "csv", "--home", str(env["home"].root)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows
    for row in rows:
        for key in ("top1", "top5"):
            if row[key]:
                assert 0 <= float(row[key]) <= 1, row
        for key in ("images", "skipped", "eval_limit", "run_id"):
            if row[key]:
                assert row[key].isdigit(), (key, row[key])


def test_backends_tui_serve(env, tmp_path):
    cli = env["cli"]
    cli("backends")
    cli("tui", "--profile", tmp_path / "missing.toml", code=2)
    cli("serve", "--profile", tmp_path / "missing.toml", code=2)


def test_every_command_is_checked(env):
    """Read from this file, not from what earlier tests happened to run: every command has
    a ``cli("<command>", ...)`` check here (each of which asserts the rule when it runs)."""
    import re

    from workbench.cli.app import app

    names = {c.name or c.callback.__name__ for c in app.registered_commands}  # type: ignore[union-attr]
    checked = set(re.findall(r'\bcli\("([a-z-]+)"', Path(__file__).read_text()))
    missing = names - checked - set(ELSEWHERE)
    assert not missing, f"--json output of {sorted(missing)} is not checked for the unit rule"
    for test_file in ELSEWHERE.values():
        assert "check_units(" in Path(__file__).with_name(test_file).read_text(), test_file
