"""Bad input through the CLI: one line on stderr, exit 2, never a traceback, nothing written."""

from __future__ import annotations

import pickle

import pytest
import torch
from typer.testing import CliRunner

from workbench.cli import _load_commands
from workbench.cli.app import app
from workbench.sources import ModelSpec, load_model
from workbench.sources.checkpoint import save_state_dict
from workbench.sources.official import save_official_checkpoint
from workbench.sources.timm_source import build_model

_load_commands()


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def run_cli(*args: str):
    return CliRunner().invoke(app, list(args))


def assert_one_line_exit_2(result, *needles: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def small_ckpt(tmp_path_factory):
    model = load_model(ModelSpec("timm", "hrnet_w18_small", "random-init")).model
    return save_official_checkpoint(model, tmp_path_factory.mktemp("ck") / "checkpoint.pth.tar")


def test_w30_checkpoint_for_w18_names_the_actual_variant(tmp_path):
    # a real w30 state dict (values zero: only keys and shapes matter for the check)
    w30 = build_model("hrnet_w30", device="meta").to_empty(device="cpu")
    sd = {k: torch.zeros_like(v) for k, v in w30.state_dict().items()}
    ckpt = save_official_checkpoint(sd, tmp_path / "hrnet_w30_checkpoint.pth.tar")
    out = tmp_path / "x.onnx"
    r = run_cli("export", "--source", "official", "--variant", "w18", "--weights", str(ckpt),
                "--input-size", "64", "--out", str(out))
    line = assert_one_line_exit_2(r, "this checkpoint is hrnet_w30", "not hrnet_w18", "hrnet_w30_checkpoint")
    assert "30 channels" in line
    assert not out.exists()
    # --json gives the same line as a record
    r = run_cli("export", "--variant", "w18", "--weights", str(ckpt), "--json")
    assert r.exit_code == 2 and '"ok": false' in r.stdout and "hrnet_w30" in r.stdout


class _Payload:
    """Unpickling this calls open(marker, 'w'): the file appears iff the code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("container", ["torch-zip", "plain-pickle"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, small_ckpt, container):
    marker = tmp_path / "pwned.txt"
    sd = torch.load(small_ckpt, weights_only=True)["state_dict"]
    evil = tmp_path / "evil.pth"
    obj = {"state_dict": sd, "extra": _Payload(str(marker))}
    if container == "torch-zip":
        torch.save(obj, evil)
    else:
        with open(evil, "wb") as fh:
            pickle.dump({"extra": _Payload(str(marker))}, fh, protocol=2)
    r = run_cli("export", "--variant", "small_v1", "--weights", str(evil), "--input-size", "64",
                "--out", str(tmp_path / "x.onnx"))
    assert_one_line_exit_2(r, "refused", "evil.pth", "nothing in the file was run")
    assert not marker.exists()
    # control: the payload is live, so the test above could have failed
    if container == "torch-zip":
        torch.load(evil, weights_only=False)
    else:
        with open(evil, "rb") as fh:
            pickle.load(fh)  # noqa: S301 - deliberately running our own payload
    assert marker.exists()


@pytest.mark.parametrize("suffix", [".pth.tar", ".safetensors"])
def test_truncated_file(tmp_path, small_ckpt, suffix):
    if suffix == ".pth.tar":
        data = small_ckpt.read_bytes()
    else:
        sd = torch.load(small_ckpt, weights_only=True)["state_dict"]
        data = save_state_dict(sd, tmp_path / "full.safetensors").read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    r = run_cli("export", "--variant", "small_v1", "--weights", str(cut), "--input-size", "64",
                "--out", str(tmp_path / "x.onnx"))
    assert_one_line_exit_2(r, str(cut), "truncated")


def test_input_size_225():
    r = run_cli("export", "--variant", "small_v1", "--input-size", "225")
    assert_one_line_exit_2(r, "225x225", "not a multiple of 32", "try 224")


def test_unknown_variant():
    r = run_cli("export", "--variant", "hrnet_w19")
    assert_one_line_exit_2(r, "unknown variant 'hrnet_w19'", "hrnet_w18")


@pytest.mark.parametrize("args,needle", [
    (("--source", "caffe"), "unknown source 'caffe'"),
    (("--weights", "/nonexistent/w.pth"), "weights file not found"),
    (("--opset", "8"), "opset 8"),
    (("--to", "tflite"), "--to 'tflite'"),
])
def test_other_bad_input(args, needle):
    r = run_cli("export", "--variant", "small_v1", "--input-size", "64", *args)
    assert_one_line_exit_2(r, needle)
