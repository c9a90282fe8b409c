"""Messages that name the real problem, and figures typed as what they are (issue 26).

Help text keeps its ``[extra]`` brackets; a binary results file, NaN weights, a weights
folder, one bad label line, a looping symlink and a FIFO among the images, a missing run and
a foreign SQLite file each get a line that names them; a refused ``--resume`` records no
run; real mmengine Runner checkpoints load while every payload stays refused.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_data_fixtures import make_tiny_onnx, make_val_folder
from typer.testing import CliRunner

from workbench.cli import _load_commands
from workbench.cli.app import app
from workbench.errors import BadInput

_load_commands()


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


# -- 6: help is plain text ---------------------------------------------------------------


def _commands(group, path=()):
    import click

    for name, cmd in group.commands.items():
        yield (*path, name), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*path, name))


def test_every_help_keeps_every_bracketed_word():
    import typer.main

    root = typer.main.get_command(app)
    checked = 0
    for path, cmd in _commands(root):
        texts = [cmd.help or "", cmd.epilog or ""] + [getattr(p, "help", "") or "" for p in cmd.params]
        tokens = {t for text in texts for t in re.findall(r"\S*\[[\w.-]+\]\S*", text)}
        if not tokens:
            continue
        out = cli(*path, "--help")
        assert out.exit_code == 0, out.output
        flat = "".join(out.stdout.split())
        for t in tokens:
            assert t.rstrip(".,;)") in flat, f"{' '.join(path)} --help lost {t!r}"
            checked += 1
    assert checked >= 3  # eval/sweep --engine's [ray], sweep's [data]/[models]
    assert "pip install 'hrnet-wb[ray]'" in " ".join(cli("eval", "--help").stdout.replace("-\n", "-").split()).replace("hrnet- wb", "hrnet-wb")


# -- 7 and the crash log -----------------------------------------------------------------


def test_compare_of_a_binary_file_is_one_line_not_a_traceback(tmp_path):
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\xa1\xff\x00\x80" * 64 + b"\n")
    out = cli("compare", str(blob), str(blob), "--home", str(tmp_path / "h"))
    assert out.exit_code == 2 and "not a JSON line" in out.output and "internal error" not in out.output


def test_a_crash_log_goes_under_the_commands_home(tmp_path, monkeypatch):
    from workbench.boundary import describe

    monkeypatch.delenv("HRNET_WB_CRASH_DIR", raising=False)
    monkeypatch.delenv("HRNET_WB_HOME", raising=False)
    f = describe(RuntimeError("boom"), ["eval", "x", "--home", str(tmp_path / "h")])
    assert f.exit_code == 3 and str(tmp_path / "h" / "logs" / "crash-") in f.message


# -- 8: the side-by-side benchmark records its run ----------------------------------------


@pytest.mark.slow
def test_side_by_side_benchmark_finishes_and_records_its_run(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    try:
        import side_by_side
    finally:
        sys.path.pop(0)
    rc = side_by_side.main(["--variant", "hrnet_w18_small", "--input-size", "64", "--only", "ort-fp32",
                            "--batch", "1", "--iterations", "2", "--rounds", "1", "--warmup", "1",
                            "--home", str(tmp_path)])
    assert rc == 0
    assert re.search(r"\(run \d+ in ", capsys.readouterr().out)


# -- 12: counts are ints, numbers are numbers ---------------------------------------------


def test_a_wilson_bound_at_zero_or_all_is_exact():
    from workbench.evaluate.metrics import wilson_interval

    assert wilson_interval(0, 7) [0] == 0.0 and wilson_interval(7, 7)[1] == 1.0


def test_counts_from_the_runtime_and_bench_are_ints(tmp_path):
    from workbench.store import Store

    s = Store(tmp_path / "store.sqlite")
    rid = s.start_run("bench x")
    s.add_metric(rid, "b", "throughput", 10.0, "img/s", "k")
    s.add_metric(rid, "b", "best_batch", 8.0, "", "k")
    s.add_runtime(rid, "b", {"runtime": "onnxruntime", "streams": 2.0, "threads": 1.0}, "k", "bench")
    s.finish_run(rid, "ok")
    (row,) = [r.as_dict() for r in s.results()]
    assert row["best_batch"] == 8 and isinstance(row["best_batch"], int)
    assert isinstance(row["streams_eff"], int) and isinstance(row["threads_eff"], int)


# -- 13: each message names the real problem ---------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("msg")
    return make_tiny_onnx(root / "tiny.onnx"), make_val_folder(root / "data", 4, size=(80, 64))


def test_an_unknown_backend_is_named_before_the_model(tmp_path):
    bad = tmp_path / "two_out.onnx"
    bad.write_bytes(b"not onnx at all")
    out = cli("eval", str(bad), "--data", str(tmp_path), "--backend", "tpu", "--home", str(tmp_path / "h"))
    assert out.exit_code == 2 and "--backend 'tpu': unknown backend" in out.output


def test_leaderboard_of_a_missing_run_is_refused(tmp_path):
    from workbench.store import Store

    Store(tmp_path / "store.sqlite").start_run("x")
    out = cli("leaderboard", "--run", "99999", "--home", str(tmp_path), "--json")
    assert out.exit_code == 2 and "--run 99999: no such run" in json.loads(out.stdout)["error"]


def test_a_foreign_sqlite_file_is_refused_without_switching_it_to_wal(tmp_path):
    con = sqlite3.connect(tmp_path / "store.sqlite")
    con.execute("CREATE TABLE invoices (id INTEGER)")
    con.commit()
    con.close()
    from workbench.store import Store

    with pytest.raises(BadInput, match="not an hrnet-wb store"):
        Store(tmp_path / "store.sqlite")
    con = sqlite3.connect(tmp_path / "store.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    con.close()


def test_one_bad_line_in_a_label_file_is_named_by_its_line(tmp_path, tiny):
    onnx, data = tiny
    labels = tmp_path / "val_label.txt"
    lines = (data / "val_label.txt").read_text().splitlines()
    lines[2] = lines[2].split()[0] + " three"
    labels.write_text("\n".join(lines) + "\n")
    out = cli("eval", str(onnx), "--data", str(data), "--labels", str(labels), "--home", str(tmp_path / "h"))
    assert out.exit_code == 2 and "val_label.txt:3: expected `FILE_NAME CLASS_INDEX`" in out.output


def test_a_looping_symlink_and_a_fifo_are_skipped_and_listed(tmp_path, tiny):
    onnx, _ = tiny
    data = make_val_folder(tmp_path / "d", 3, size=(80, 64))
    os.symlink("loop.JPEG", data / "val" / "loop.JPEG")
    os.mkfifo(data / "val" / "pipe.JPEG")
    with open(data / "val_label.txt", "a") as fh:
        fh.write("loop.JPEG 1\npipe.JPEG 2\n")
    out = cli("eval", str(onnx), "--data", str(data), "--home", str(tmp_path / "h"), "--json")
    assert out.exit_code == 0, out.output
    rec = json.loads(out.stdout)
    assert rec["n"] == 3 and rec["skipped"] == 2


@pytest.mark.parametrize("size, says", [("-224x224", "positive"), ("0x0", "positive")])
def test_a_non_positive_size_is_not_called_a_multiple_of_32(size, says):
    out = cli("models", f"--input-size={size}")
    assert out.exit_code == 2 and says in out.output and "multiple of 32" not in out.output.split("(")[0]


def _profile(tmp_path: Path, text: str, bom: bool = False) -> Path:
    p = tmp_path / "p.toml"
    p.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return p


def test_profiles_bom_bools_and_set_blame(tmp_path):
    from workbench.profile import load_profile

    assert load_profile(_profile(tmp_path, '[model]\nvariant = "hrnet_w18_small"\n', bom=True)).model.variant \
        == "hrnet_w18_small"
    p = _profile(tmp_path, '[model]\nvariant = "hrnet_w18_small"\n')
    with pytest.raises(BadInput, match=r"^--set data.batch_size=true: data.batch_size: expected a number"):
        load_profile(p, ["data.batch_size=true"])
    with pytest.raises(BadInput, match=r"^--set data.batch_size=abc: "):
        load_profile(p, ["data.batch_size=abc"])
    with pytest.raises(BadInput, match=r"p.toml: data.batch_size"):
        load_profile(_profile(tmp_path, "[data]\nbatch_size = true\n"))


def test_a_weights_folder_and_nan_weights_are_named(tmp_path):
    from workbench.sources.checkpoint import read_checkpoint, save_state_dict

    (tmp_path / "w").mkdir()
    with pytest.raises(BadInput, match="is a folder; --weights takes one checkpoint file"):
        read_checkpoint(tmp_path / "w")
    sd = {"conv1.weight": torch.zeros(4, 3, 3, 3), "layer1.0.conv1.weight": torch.full((2, 4, 1, 1), float("nan"))}
    path = save_state_dict(sd, tmp_path / "nan.pth")
    with pytest.raises(BadInput, match=r"tensor layer1.0.conv1.weight holds 8 NaN/inf value"):
        read_checkpoint(path)


# -- 15: eval says what it evaluates; a refused resume records no run ----------------------


def test_a_refused_resume_records_no_run_and_the_log_counts_what_runs(tmp_path, tiny):
    from workbench.store import Store

    onnx, data = tiny
    other = make_tiny_onnx(tmp_path / "other.onnx", seed=1)
    home, out = tmp_path / "h", tmp_path / "out"
    first = cli("eval", str(onnx), "--data", str(data), "--limit", "2", "--out", str(out), "--home", str(home))
    assert first.exit_code == 0 and "4 images (4 labelled)" in first.output
    assert "evaluating 2 (--limit 2)" in " ".join(first.output.split())
    again = cli("eval", str(other), "--data", str(data), "--out", str(out), "--resume", "--home", str(home))
    assert again.exit_code == 2 and "different model file" in again.output
    assert [r.status for r in Store(home / "store.sqlite").runs()] == ["ok"]


# -- 14: real mmengine Runner checkpoints --------------------------------------------------


def test_a_real_mmengine_runner_checkpoint_loads_and_payloads_stay_refused(tmp_path):
    """The checkpoint is written by mmengine 0.10's own Runner (one epoch of a tiny model:
    meta, optimizer, message_hub with real HistoryBuffers); its state_dict is then swapped for
    an mmcls-layout HRNet's, everything else kept as mmengine pickled it."""
    pytest.importorskip("mmengine")
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from test_checkpoint_gaps import canonical_to_mmcls

    from workbench.sources import ModelSpec, load_model
    from workbench.sources.checkpoint import read_checkpoint

    class Tiny(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 1)

        def forward(self, x, y=None, mode="loss"):
            out = self.fc(torch.stack(x) if isinstance(x, list) else x)
            return {"loss": out.pow(2).mean()} if mode == "loss" else [out]

    loader = torch.utils.data.DataLoader([{"x": torch.ones(2)}] * 4, batch_size=2)
    runner = Runner(model=Tiny(), work_dir=str(tmp_path / "work"), train_dataloader=loader,
                    optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.01)),
                    train_cfg=dict(by_epoch=True, max_epochs=1), default_hooks=dict(
                        checkpoint=dict(type="CheckpointHook", interval=1)),
                    default_scope=None, env_cfg=dict(dist_cfg=dict(backend="gloo")))
    runner.train()
    saved = tmp_path / "work" / "epoch_1.pth"
    ckpt = torch.load(saved, weights_only=False)  # our own file, written a moment ago
    assert {"meta", "optimizer", "message_hub"} <= set(ckpt)
    import timm

    small = timm.create_model("hrnet_w18_small", pretrained=False).eval()
    ckpt["state_dict"] = canonical_to_mmcls(small.state_dict())
    real = tmp_path / "epoch_1_hrnet.pth"
    torch.save(ckpt, real)
    lm = load_model(ModelSpec("mmcls", "auto", str(real)))
    assert lm.variant == "hrnet_w18_small" and lm.layout == "mmcls"
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32))
    with torch.no_grad():
        assert torch.allclose(lm.model(x), small(x), atol=1e-4)

    # getattr is allowed on the HistoryBuffer placeholder for its statistics only
    import mmengine.logging.history_buffer as hb

    class Evil:
        def __reduce__(self):
            return (getattr, (hb.HistoryBuffer, "__init__"))

    bad = tmp_path / "evil.pth"
    torch.save({**ckpt, "x": Evil()}, bad)
    with pytest.raises(BadInput, match=r"asks to call builtins.getattr\(mmengine.logging.history_buffer"
                                       r".HistoryBuffer.__init__\)"):
        read_checkpoint(bad)


def test_a_payload_behind_memoised_stack_global_strings_is_named(tmp_path):
    """A HistoryBuffer GLOBAL first, then ``posix.system`` built by STACK_GLOBAL from two
    memoised strings: the refusal names posix.system, not the harmless HistoryBuffer."""
    import io
    import struct
    import zipfile

    from workbench.sources.checkpoint import read_checkpoint

    def u(s: str) -> bytes:
        b = s.encode()
        return b"X" + struct.pack("<I", len(b)) + b

    pkl = (b"\x80\x02}q\x00(" + u("hb") + b"cmmengine.logging.history_buffer\nHistoryBuffer\n)\x81"
           + u("m") + u("posix") + b"q\x01" + u("f") + u("system") + b"q\x02"
           + u("x") + b"h\x01h\x02\x93" + u("true") + b"\x85Ru.")
    buf = io.BytesIO()
    torch.save({"a": 1}, buf)
    zin = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    path = tmp_path / "epoch_9.pth"
    with zipfile.ZipFile(path, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, pkl if item.filename.endswith("data.pkl") else zin.read(item.filename))
    with pytest.raises(BadInput, match=r"asks to call posix\.system"):
        read_checkpoint(path)


def test_a_zoo_rows_params_and_cost_are_numbers():
    from types import SimpleNamespace

    from workbench.sweep.row import RowOutcome
    from workbench.sweep.table import zoo_row

    outcome = RowOutcome(row={"id": "t-w18s", "source": "timm", "name": "hrnet_w18_small",
                              "variant": "hrnet_w18_small"}, weights="random-init", weights_id="x",
                         calibration_images=0, eval_images=0, builds=[], agreement=None, node={}, seconds=1.0)
    cost = SimpleNamespace(params_m="13.19", params=13187464, cost="1.49", count=1)
    row = zoo_row(outcome, cost, 1)
    assert row["params_m"] == 13.19 and row["cost"] == 1.49
    assert json.loads(json.dumps(row))["params_m"] == 13.19


def test_a_read_only_home_and_a_full_disk_are_named(tmp_path, monkeypatch):
    """As root every folder is writable, so the two states are what ``os.access`` and
    ``shutil.disk_usage`` report; SQLite's own words stay in brackets."""
    import shutil
    from collections import namedtuple

    from workbench.store import Store

    store = Store(tmp_path / "store.sqlite")
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    msg = store._explain(sqlite3.OperationalError("unable to open database file"))
    assert msg.startswith(f"the home {tmp_path} is read-only") and "unable to open database file" in msg
    monkeypatch.undo()
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10, 10, 0))
    msg = store._explain(sqlite3.OperationalError("disk I/O error"))
    assert msg.startswith("no space left on the device holding")
