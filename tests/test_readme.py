"""The README runs as written: every command in its code blocks parses against the real CLI,
the cheap ones run, and each one left out is listed here with the reason."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: Run in-process on an empty home (seconds each).
CHEAP = {"backends", "weights", "leaderboard", "runs"}
#: hrnet-wb commands parsed but not run here, and why.
NOT_RUN = {
    "weights fetch": "downloads (tests/test_weights_download.py runs it on a local hub)",
    "run": "export, build, eval and bench of a whole profile: minutes (the demo runs in the slow test below)",
    "models": "counts 25 models on a cold cache, about a minute (tests/test_models_cmd.py)",
    "export": "needs a checkpoint file the README names as an example",
    "build": "needs an exported ONNX and a dataset (tests/test_build_cli.py)",
    "sensitivity": "needs an int8 artifact in the store (tests/test_sensitivity.py)",
    "eval": "needs an artifact and ImageNet val (tests/test_evaluate.py)",
    "report": "needs a populated store and matplotlib (tests/test_report.py)",
    "eval-topk": "needs a result txt and val_label.txt (tests/test_evaluate.py)",
    "compare": "needs two recorded runs (tests/test_compare.py)",
    "npz": "needs ImageNet val (tests/test_data_npz.py)",
    "bench": "needs an artifact; minutes of timing (tests/test_bench_cli.py)",
    "sweep": "builds 25 rows (tests/test_sweep_plan.py, tests/test_sweep_ray.py)",
}
#: Other programs in the README, and why they are not run here.
OTHER = {
    "python3": "creates a venv and installs packages: .ci/run does exactly that",
    "pip": "installs packages: .ci/run",
    "ruff": "the lint command: .ci/run",
    "mypy": "the lint command: .ci/run",
    "lint-imports": "the lint command: .ci/run",
    ".": "activates a venv: .ci/run",
    "ray": "starts a Ray cluster",
    "python": "a benchmark (the script must exist) or the test suite itself",
    "/usr/bin/time": "wraps a benchmark (the script must exist)",
}


def readme_commands() -> list[str]:
    """Every command line of the README's bash blocks, comments cut, ``&&`` chains split."""
    text = README.read_text()
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and not line.startswith("#"):
                out += [c.strip() for c in line.split("&&") if c.strip()]
    return out


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    from workbench.cli import _load_commands
    from workbench.cli.app import app

    _load_commands()
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    for k, v in {"HRNET_WB_HOME": str(home), "HF_HUB_OFFLINE": "1", "COLUMNS": "80",
                 "HRNET_WB_WEIGHTS_DIR": str(home / "weights")}.items():
        mp.setenv(k, v)
    yield lambda args: CliRunner().invoke(app, args)
    mp.undo()


def _parse(args: list[str]) -> None:
    """Parse ``args`` as ``hrnet-wb`` would, without running: unknown flags and bad values fail."""
    import typer.main

    from workbench.cli.app import app

    def left(ctx) -> list[str]:  # what a group leaves for its subcommand (click 8.2 renamed it)
        return [*(getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", None) or []),
                *ctx.args]

    group = typer.main.get_command(app)
    ctx = group.make_context("hrnet-wb", list(args))
    rest = left(ctx)
    while rest:
        name, cmd, rest = group.resolve_command(ctx, rest)
        assert cmd is not None, name
        ctx = cmd.make_context(name, list(rest), parent=ctx)
        if not hasattr(cmd, "commands"):
            return
        group, rest = cmd, left(ctx)


def test_the_readme_has_commands_and_each_is_run_or_has_a_reason():
    cmds = readme_commands()
    assert len(cmds) >= 25
    for c in cmds:
        word = shlex.split(c)[0]
        sub = _decision_key(c)
        if word == "hrnet-wb":
            assert sub in CHEAP or sub in NOT_RUN, f"README command with no test decision: {c}"
        else:
            assert word in OTHER, f"README command with no test decision: {c}"


@pytest.mark.parametrize("command", [c for c in readme_commands() if c.startswith("hrnet-wb ")])
def test_every_hrnet_wb_command_in_the_readme_parses(cli, command):
    args = shlex.split(command)[1:]
    args = args[: args.index(">")] if ">" in args else args
    _parse(args)


def _decision_key(command: str) -> str:
    words = shlex.split(command)[1:3]
    return " ".join(words) if words[:2] == ["weights", "fetch"] else (words[0] if words else "")


@pytest.mark.parametrize("command", sorted({c for c in readme_commands()
                                            if c.startswith("hrnet-wb ") and _decision_key(c) in CHEAP}))
def test_the_cheap_readme_commands_run(cli, command):
    r = cli(shlex.split(command)[1:])
    assert r.exit_code == 0, r.output
    assert r.output.strip()


def test_scripts_the_readme_names_exist():
    text = README.read_text()
    for script in set(re.findall(r"benchmarks/\w+\.py", text)):
        assert (ROOT / script).is_file(), script


def test_int8_cpu_artifact_names_in_the_readme_carry_their_target():
    # the tool names an ORT int8 build -vnni or -novnni; a name without it is refused
    names = re.findall(r"hrnet_w\w+-int8-\w+-\d+_\d+_\d+-ort-cpu[\w-]*", README.read_text())
    assert names and all(n.endswith(("-vnni", "-novnni")) for n in names), names


def test_no_claim_of_a_published_package():
    text = " ".join(README.read_text().split())
    for m in re.finditer(r'pip install "hrnet-wb', text):  # only as what does not work
        assert "finds nothing" in text[m.start(): m.start() + 60], text[m.start() - 80: m.start() + 60]


@pytest.mark.slow
def test_the_demo_command_runs_as_written(cli):
    r = cli(["run", "--profile", str(ROOT / "profiles" / "demo.toml")])
    assert r.exit_code == 0, r.output
    assert "random-init" in r.output


def test_readme_figures_name_the_cpu_kind_and_date(capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_figures", ROOT / "benchmarks" / "readme_figures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--only", "help", "--help-runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "- CPU: " in out and "fingerprint `" in out and "- date: 20" in out
    assert "`hrnet-wb --help`:" in out and "load average before" in out
