"""Profiles: the shipped ones validate; bad ones give one line naming file and key, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import cli_runner

from workbench.cli.app import app
from workbench.errors import BadInput
from workbench.profile import load_profile

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["demo", "w18_int8", "w18_fp32"])
def test_shipped_profiles_validate(name):
    prof = load_profile(ROOT / "profiles" / f"{name}.toml")
    assert prof.name == name
    assert prof.model.input_size == (224, 224)


def test_demo_paths_resolve_against_the_profile_folder():
    prof = load_profile(ROOT / "profiles" / "demo.toml")
    assert Path(prof.data.path) == ROOT / "assets"
    assert prof.build.dtype == "int8" and prof.build.reference


def test_overrides_are_typed_and_relative_to_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prof = load_profile(ROOT / "profiles" / "demo.toml",
                        ["export.opset=13", "build.dtype=fp32", "data.path=mydata", "model.input_size=[64, 96]"])
    assert prof.export.opset == 13
    assert prof.build.dtype == "fp32"
    assert prof.data.path == str(tmp_path / "mydata")
    assert prof.model.input_size == (64, 96)


BAD = {
    "unknown_key": ('[build]\ndtyp = "int8"\n', ["unknown key 'dtyp'", "[build]", "dtype"]),
    "wrong_type": ('[export]\nopset = "x"\n', ["export.opset", "integer", "'x'"]),
    "size_225": ("[model]\ninput_size = 225\n", ["model.input_size", "multiple of 32", "225"]),
    "size_pair": ("[model]\ninput_size = [224, 240]\n", ["multiple of 32", "240"]),
    "bad_enum": ('[build]\nbackend = "tensorrrt"\n', ["build.backend", "tensorrrt"]),
    "not_toml": ("[model\nvariant=1\n", ["not valid TOML"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_profile_names_file_and_key(tmp_path, case):
    body, needles = BAD[case]
    p = tmp_path / f"{case}.toml"
    p.write_text(body)
    with pytest.raises(BadInput) as exc:
        load_profile(p)
    msg = str(exc.value)
    assert str(p) in msg
    assert "\n" not in msg
    for n in needles:
        assert n in msg


def test_missing_profile(tmp_path):
    with pytest.raises(BadInput, match="profile not found"):
        load_profile(tmp_path / "nope.toml")


@pytest.mark.parametrize("case", ["unknown_key", "wrong_type", "size_225", "missing"])
def test_cli_bad_profile_one_line_exit_2(tmp_path, case):
    p = tmp_path / f"{case}.toml"
    if case != "missing":
        p.write_text(BAD[case][0])
    proc = cli_runner().invoke(app, ["run", "--profile", str(p), "--home", str(tmp_path / "h")])
    assert proc.exit_code == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and str(p) in lines[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_cli_bad_profile_json(tmp_path):
    import json

    p = tmp_path / "bad.toml"
    p.write_text('[build]\ndtyp = "int8"\n')
    proc = cli_runner().invoke(app, ["run", "--profile", str(p), "--json", "--home", str(tmp_path / "h")])
    assert proc.exit_code == 2
    rec = json.loads(proc.stdout)
    assert rec["ok"] is False and rec["exit_code"] == 2 and "dtyp" in rec["error"]
