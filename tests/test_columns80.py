"""At 80 columns: help, backends and the leaderboard fit, wrap between words, never inside
a flag, and on/off flags show no <bool>."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

COMMANDS = ["", "run", "sweep", "eval", "build", "bench", "export", "leaderboard", "backends",
            "models", "weights", "weights fetch", "sensitivity", "compare", "runs", "npz",
            "eval-topk", "serve", "tui"]


@pytest.fixture(scope="module")
def cli():
    from workbench.cli import _load_commands
    from workbench.cli.app import app

    _load_commands()
    mp = pytest.MonkeyPatch()
    mp.setenv("COLUMNS", "80")
    mp.setenv("TERMINAL_WIDTH", "80")
    yield lambda *args: CliRunner().invoke(app, [a for a in args if a])
    mp.undo()


@pytest.mark.parametrize("command", COMMANDS)
def test_help_fits_80_columns_and_never_splits_a_flag(cli, command):
    r = cli(*command.split(), "--help")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert max(len(ln) for ln in lines) <= 80
    assert "<bool>" not in r.output
    for ln in lines:
        body = ln.strip(" │")
        # a flag that takes a value never ends a line with its value on the next
        assert not body.endswith(("--set", "--where")), ln


def test_examples_continue_at_flag_boundaries():
    from workbench.cli.help_text import fit_example, reflow

    cmd = ("hrnet-wb run --profile profiles/w18_int8.toml --set model.weights=~/hrnet_w18.pth "
           "--set data.path=/data/imagenet/val --json > record.json")
    out = fit_example(cmd).splitlines()
    assert all(len(ln) <= 74 for ln in out) and all(ln.endswith(" \\") for ln in out[:-1])
    assert " ".join(ln.rstrip(" \\").strip() for ln in out) == cmd  # pastes back as one command
    assert any(ln.strip().startswith("--set model.weights=") for ln in out)
    assert reflow("one\ntwo\n\n- a\n- b\n  c") == "one two\n\n- a\n- b c"


def test_backends_wraps_at_words_within_80_columns(cli):
    r = cli("backends")
    assert r.exit_code == 0
    assert max(len(ln) for ln in r.output.splitlines()) <= 80
    assert "ort-cpu" in r.output and "onnxruntime-gpu" in r.output  # whole words survive


@pytest.mark.parametrize("width", [40, 60, 70, 80])
def test_the_run_summary_never_splits_set_from_its_value(width):
    from workbench.cli.help_text import wrap_prose

    text = ("weights: random-init, so accuracy is not shown; for real weights add "
            "--set model.weights=pretrained (downloads once; `hrnet-wb weights` lists them)")
    lines = wrap_prose(text, width).splitlines()
    assert any("--set model.weights=pretrained" in ln for ln in lines)
    assert all(len(ln) <= width for ln in lines) and " ".join(lines) == text


def test_the_leaderboard_fits_80_columns_with_every_column(cli, tmp_path):
    """Ten columns, an int8 percentile build and load marks: nothing cropped, no word folded."""
    from rich.console import Console

    from workbench.cli.render import leaderboard_table
    from workbench.records import LOAD_METRIC, ResultRow

    rows = [ResultRow(7, "r", "ok", "b", variant="hrnet_w18_small_v2", weights="random-init",
                      dtype=d, calibration=c, backend=b, precision="int8",
                      metrics={"top1": 0.7, "top5": 0.9, "images": 7, "p50_ms": 3795.3,
                               "throughput": 12.3, "vs_torch": 12.78, LOAD_METRIC: 4.8})
            for d, c, b in (("int8", "percentile", "ort-cpu"), ("fp32", "", "openvino-cpu"))]
    con = Console(width=80, record=True)
    con.print(leaderboard_table(rows, title="run 7"))
    text = con.export_text()
    assert max(len(ln) for ln in text.splitlines()) <= 80
    for word in ("percentile", "openvino-cpu", "int8", "measure again on a quiet machine"):
        assert word in " ".join(text.split()), word
