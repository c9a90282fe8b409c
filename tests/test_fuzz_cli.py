"""Issue 15's fuzz suite: bad inputs across every command, as a careless or unlucky user
would type them. Every case must end in its documented exit code (2 = bad input or
environment, 1 = a failed check), one line (or ``{"ok": false, ...}`` under ``--json``), no
traceback, without hanging (a 60 s bound: a hang, not a speed goal), and leave the shared home's store intact (``PRAGMA
integrity_check``).

Cases run in-process (typer's CliRunner) against one module-scoped fixture of bad files;
only FIFOs and devices run as subprocesses, so a hang is a timeout, not a stuck suite.
``CLASSES`` maps each case to the issue's class; ``test_case_count`` keeps the suite at
120+ cases and reports the count per class.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_data_fixtures import make_tiny_onnx, make_val_folder
from typer.testing import CliRunner

from workbench.cli import _load_commands
from workbench.cli.app import app

_load_commands()
runner = CliRunner()

#: A case that has not ended after this long hangs. Generous: a loaded 2-core box runs a
#: subprocess case in 2-3 s quiet, several times that under load.
HANG_S = 60

COMMANDS = ["run", "eval", "eval-topk", "npz", "compare", "export", "build", "sensitivity",
            "backends", "bench", "models", "runs", "leaderboard", "tui", "serve"]


class F:
    """Paths of the shared fixture (filled in by the module fixture)."""

    root: Path
    good: Path  # a valid home with a store, one fp32 artifact and one finished eval run
    onnx: Path  # a valid tiny 1000-class classifier
    data: Path  # a valid tiny val folder
    artifact: str  # the fp32 artifact's name
    port: int  # a port held busy for the whole module

    def __getattr__(self, name: str) -> Path:  # bad files by name: getattr(f, "zero.onnx"), f.fifo
        root = self.__dict__.get("root")
        if root is None or name.startswith("__"):
            raise AttributeError(name)
        return root / "bad" / name


f = F()


def _model(nodes, inputs, outputs, inits=(), ir=None, opset=17, domain_opsets=()):
    from onnx import helper

    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset), *domain_opsets])
    if ir is not None:
        m.ir_version = ir
    return m


def _write_bad_onnx(bad: Path, good: Path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    blob = good.read_bytes()
    (bad / "zero.onnx").write_bytes(b"")
    (bad / "trunc.onnx").write_bytes(blob[: len(blob) // 3])
    (bad / "random.onnx").write_bytes(os.urandom(4096))
    (bad / "text.onnx").write_text("this is not a model\n")
    m = onnx.load(str(good))
    m.ir_version = 99
    onnx.save(m, str(bad / "ir99.onnx"))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 64, 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 64, 64])
    out2 = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 10])
    onnx.save(_model([helper.make_node("Add", ["x", "y"], ["z"])], [x, y],
                     [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 3, 64, 64])]),
              str(bad / "add2.onnx"))
    onnx.save(_model([helper.make_node("FrobnicateXYZ", ["x"], ["out"])], [x], [out2]),
              str(bad / "unknown_op.onnx"))
    onnx.save(_model([helper.make_node("Frob", ["x"], ["out"], domain="com.example")], [x], [out2],
                     domain_opsets=[helper.make_opsetid("com.example", 1)]), str(bad / "custom_domain.onnx"))
    x3 = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 64])
    onnx.save(_model([helper.make_node("ReduceMean", ["x"], ["out"], axes=[2], keepdims=0)], [x3], [out2],
                     opset=13), str(bad / "rank3_input.onnx"))
    xi = helper.make_tensor_value_info("x", TensorProto.INT64, ["N", 3, 64, 64])
    oi = helper.make_tensor_value_info("out", TensorProto.INT64, ["N", 3, 64, 64])
    onnx.save(_model([helper.make_node("Identity", ["x"], ["out"])], [xi], [oi]), str(bad / "int_input.onnx"))
    o4 = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 3, 64, 64])
    onnx.save(_model([helper.make_node("Relu", ["x"], ["out"])], [x], [o4]), str(bad / "image_output.onnx"))
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3, 64, 64])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 3, 64, 64])
    onnx.save(_model([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Sigmoid", ["x"], ["b"])],
                     [x], [a, b]), str(bad / "two_outputs.onnx"))
    x5 = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5, 64, 64])
    w = numpy_helper.from_array(np.zeros((10, 5), np.float32), "w")
    onnx.save(_model([helper.make_node("GlobalAveragePool", ["x"], ["p"]),
                      helper.make_node("Flatten", ["p"], ["f"]),
                      helper.make_node("Gemm", ["f", "w"], ["out"], transB=1)], [x5], [out2], [w]),
              str(bad / "five_channels.onnx"))
    # a checker failure: a node reads a tensor nobody produces
    onnx.save(_model([helper.make_node("Relu", ["nowhere"], ["out"])], [x], [out2]), str(bad / "dangling.onnx"),
              )
    (bad / "model.txt").write_text("not onnx")


def _write_bad_texts(bad: Path, data: Path) -> None:
    img = data / "val" / "ILSVRC2012_val_00000001.JPEG"
    line = "{p}: Relay top-{k} id: {i}, prob: {pr}, class name: x\n"
    full = "".join(line.format(p=img, k=k, i=k, pr=0.1) for k in range(5))
    (bad / "valid.txt").write_text(full)
    (bad / "cut.txt").write_text(full + "".join(line.format(p=img.with_name("b.JPEG"), k=k, i=k, pr=0.1)
                                                for k in range(3)))
    (bad / "id_99999.txt").write_text(full.replace("id: 3,", "id: 99999,"))
    (bad / "id_negative.txt").write_text(full.replace("id: 2,", "id: -4,"))
    (bad / "prob_nan.txt").write_text(full.replace("prob: 0.1", "prob: nan", 1))
    (bad / "prob_2.txt").write_text(full.replace("prob: 0.1", "prob: 2.5", 1))
    (bad / "garbage.txt").write_text("hello world\n")
    (bad / "empty.txt").write_text("")
    (bad / "latin1.txt").write_bytes(b"\xff\xfe\xfa caf\xe9\n")
    (bad / "order.txt").write_text("".join(line.format(p=img, k=k, i=k, pr=0.1) for k in (0, 2, 1, 3, 4)))
    (bad / "starts_at_1.txt").write_text("".join(line.format(p=img, k=k, i=k, pr=0.1) for k in range(1, 5)))
    texts = {  # one bad input per file
        "labels_bad.txt": "ILSVRC2012_val_00000001.JPEG banana\n",
        "labels_range.txt": "ILSVRC2012_val_00000001.JPEG 5000\n",
        "labels_empty.txt": "\n\n",
        "labels_twice.txt": "a.JPEG 1\na.JPEG 2\n",
        "results_bad.jsonl": '{"id": "a"}\nnot json\n',
        "results_noid.jsonl": '{"x": 1}\n',
        "not_toml.toml": "[model\nvariant = \n",
        "unknown_key.toml": '[model]\nvariant = "hrnet_w18_small"\ncolour = "red"\n',
        "bad_dtype.toml": '[build]\ndtype = "int4"\n',
        "huge_size.toml": "[model]\ninput_size = [3.2e18, 3.2e18]\n",
        "neg_batch.toml": "[data]\nbatch_size = -3\n",
        "bad_variant.toml": '[model]\nvariant = "hrnet_w999"\n',
    }
    for name, text in texts.items():
        (bad / name).write_text(text)
    (bad / "latin1.toml").write_bytes(b"name = \"caf\xe9\"\n")
    (bad / "list.txt").write_text("/nonexistent/image.jpg\n")
    yaml_tpl = ("MODEL:\n  EXTRA:\n" + "".join(
        f"    STAGE{i}:\n      NUM_MODULES: 1\n      NUM_BRANCHES: {b}\n      BLOCK: {blk}\n"
        f"      NUM_BLOCKS: [{', '.join(['1'] * b)}]\n      NUM_CHANNELS: [{', '.join(['{c}'] * b)}]\n"
        "      FUSE_METHOD: SUM\n"
        for i, b, blk in ((1, 1, "BOTTLENECK"), (2, 2, "BASIC"), (3, 3, "BASIC"), (4, 4, "BASIC"))))
    (bad / "yaml_negative.yaml").write_text(yaml_tpl.replace("{c}", "-18"))
    (bad / "yaml_huge.yaml").write_text(yaml_tpl.replace("{c}", "100000000"))
    (bad / "yaml_zero.yaml").write_text(yaml_tpl.replace("{c}", "0"))
    (bad / "yaml_text.yaml").write_text(yaml_tpl.replace("{c}", "wide"))
    (bad / "yaml_empty.yaml").write_text("")
    (bad / "yaml_broken.yaml").write_text("MODEL: [unclosed\n")
    (bad / "yaml_block.yaml").write_text(yaml_tpl.replace("{c}", "18").replace("BASIC", "MAGIC"))
    (bad / "yaml_branches.yaml").write_text(yaml_tpl.replace("{c}", "18").replace("NUM_BRANCHES: 4", "NUM_BRANCHES: 3"))


def _write_bad_stores(root: Path) -> None:
    from workbench.store import Store

    (root / "home_is_file").write_text("I am a file\n")
    for name, content in (("store_garbage", b"garbage" * 100), ("store_empty_header", b"SQLite format 3\x00")):
        (root / name).mkdir()
        (root / name / "store.sqlite").write_bytes(content)
    (root / "store_dir").mkdir()
    (root / "store_dir" / "store.sqlite").mkdir()
    Store(root / "store_newer" / "store.sqlite")
    c = sqlite3.connect(root / "store_newer" / "store.sqlite")
    c.execute("PRAGMA user_version = 42")
    c.commit()
    c.close()
    (root / "store_foreign").mkdir()
    c = sqlite3.connect(root / "store_foreign" / "store.sqlite")
    c.execute("CREATE TABLE invoices (id INTEGER)")
    c.commit()
    c.close()
    # a real store cut in half
    Store(root / "store_cut" / "store.sqlite").start_run("x")
    p = root / "store_cut" / "store.sqlite"
    for side in root.glob("store_cut/store.sqlite-*"):
        side.unlink()
    p.write_bytes(p.read_bytes()[:1500])


@pytest.fixture(scope="module", autouse=True)
def fixture_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    f.root = root
    bad = root / "bad"
    bad.mkdir()
    f.onnx = make_tiny_onnx(root / "tiny.onnx")
    f.data = make_val_folder(root / "data", 4, size=(80, 64))
    _write_bad_onnx(bad, f.onnx)
    make_tiny_onnx(bad / "other.onnx", seed=1)
    _write_bad_texts(bad, f.data)
    _write_bad_stores(root)
    os.mkfifo(bad / "fifo")
    os.mkfifo(bad / "fifo.onnx")
    os.mkfifo(bad / "fifo.toml")
    f.good = root / "good"
    r = runner.invoke(app, ["build", str(f.onnx), "--variant", "tiny", "--input-size", "64", "--dtype",
                            "fp32", "--home", str(f.good), "--json"])
    assert r.exit_code == 0, r.output
    f.artifact = json.loads(r.stdout)["name"]
    art = Path(json.loads(r.stdout)["dir"])
    shutil.copytree(art, bad / "art_badmeta")
    (bad / "art_badmeta" / "meta.json").write_text("{oops")
    shutil.copytree(art, bad / "art_flipped")
    blob = bytearray((art / "model.onnx").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (bad / "art_flipped" / "model.onnx").write_bytes(bytes(blob))
    (bad / "garbage.xml").write_text("<net><layers><layer id=")
    (bad / "garbage.bin").write_bytes(b"\0" * 64)
    r = runner.invoke(app, ["eval", f.artifact, "--data", str(f.data), "--home", str(f.good), "--json"])
    assert r.exit_code == 0, r.output
    crash_dir = os.environ.get("HRNET_WB_CRASH_DIR")
    os.environ["HRNET_WB_CRASH_DIR"] = str(root / "crash")  # a bug's log stays in the test's folder
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    f.port = sock.getsockname()[1]
    yield
    sock.close()
    if crash_dir is None:
        os.environ.pop("HRNET_WB_CRASH_DIR", None)
    else:
        os.environ["HRNET_WB_CRASH_DIR"] = crash_dir


@dataclass(frozen=True)
class Case:
    id: str
    cls: str  # the class (or "more")
    argv: Callable[[], list[str]]
    code: int = 2
    says: str = ""  # a fragment the error line must contain (case-insensitive)
    subprocess: bool = False  # FIFOs and devices: a hang must be a timeout, not a stuck suite
    json: bool = True
    home: bool = True  # add --home <good home> (and check its integrity afterwards)


def C(id: str, cls: str, argv: Callable[[], list[str]], code: int = 2, says: str = "", **kw) -> Case:
    return Case(id, cls, argv, code, says, **kw)


def _build(onnx: Callable[[], Path], *extra: str) -> Callable[[], list[str]]:
    return lambda: ["build", str(onnx()), "--variant", "tiny", "--dtype", "fp32", "--input-size", "64", *extra]


def _eval(model: Callable[[], str], *extra: str | Callable[[], str]) -> Callable[[], list[str]]:
    return lambda: ["eval", model(), "--data", str(f.data), *(e() if callable(e) else e for e in extra)]


BAD_ONNX = {  # file -> what the refusal says
    "zero.onnx": "empty", "trunc.onnx": "not a readable onnx", "random.onnx": "onnx",
    "text.onnx": "not a readable onnx", "ir99.onnx": "ir version 99", "add2.onnx": "2 inputs",
    "unknown_op.onnx": "checker", "custom_domain.onnx": "unknown domain", "rank3_input.onnx": "rank 3",
    "int_input.onnx": "int64", "image_output.onnx": "rank 4", "two_outputs.onnx": "2 outputs",
    "five_channels.onnx": "5 channels", "dangling.onnx": "checker",
}

CASES: list[Case] = []

# -- 5. the --json contract: usage errors -------------------------------------------------
CASES += [C("usage-unknown-command", "usage", lambda: ["frobnicate"], says="no such command", home=False),
          C("usage-typo-command", "usage", lambda: ["leaderbord"], says="no such command", home=False),
          C("usage-root-unknown-flag", "usage", lambda: ["--frob"], says="no such option", home=False)]
CASES += [C(f"usage-unknown-flag-{cmd}", "usage", lambda cmd=cmd: [cmd, "--no-such-flag"], says="no such option",
            home=False) for cmd in COMMANDS]
CASES += [
    C("usage-runs-limit-text", "usage", lambda: ["runs", "--limit", "abc"], says="limit"),
    C("usage-eval-batch-text", "usage", _eval(lambda: str(f.onnx), "--batch-size", "many"), says="batch"),
    C("usage-eval-batch-zero", "usage", _eval(lambda: str(f.onnx), "--batch-size", "0"), says="batch"),
    C("usage-eval-threads-negative", "usage", _eval(lambda: str(f.onnx), "--threads", "-1"), says="threads"),
    C("usage-eval-missing-data", "usage", lambda: ["eval", str(f.onnx)], says="--data"),
    C("usage-eval-missing-model", "usage", lambda: ["eval"], says="missing argument"),
    C("usage-topk-missing-file", "usage", lambda: ["eval-topk"], says="missing argument", home=False),
    C("usage-compare-one-arg", "usage", lambda: ["compare", "1"], says="missing argument"),
    C("usage-npz-missing-out", "usage", lambda: ["npz", str(f.data)], says="--out"),
    C("usage-sensitivity-missing", "usage", lambda: ["sensitivity"], says="missing argument"),
    C("usage-build-count-zero", "usage", _build(lambda: f.onnx, "--count", "0"), says="count"),
    C("usage-build-opset-text", "usage", _build(lambda: f.onnx, "--opset", "seventeen"), says="opset"),
    C("usage-serve-port-zero", "usage", lambda: ["serve", "--port", "0"], says="port"),
    C("usage-serve-port-huge", "usage", lambda: ["serve", "--port", "70000"], says="port"),
    C("usage-run-missing-profile", "usage", lambda: ["run"], says="--profile"),
    C("usage-leaderboard-format", "usage", lambda: ["leaderboard", "--format", "xml"], says="format"),
    C("usage-export-parity-zero", "usage", lambda: ["export", "--parity-images", "0"], says="parity"),
    C("usage-plain-unknown-flag", "usage", lambda: ["runs", "--frob"], says="no such option", json=False,
      home=False),
    C("usage-plain-bad-int", "usage", lambda: ["runs", "--limit", "x"], says="limit", json=False),
]

# -- 1. anything that is not a WorkbenchError: stores and homes --------------------------
BAD_HOMES = {"home_is_file": "folder", "store_garbage": "not a database", "store_empty_header": "store",
             "store_dir": "not a regular file", "store_newer": "newer", "store_foreign": "not an hrnet-wb store",
             "store_cut": "store"}
for name, says in BAD_HOMES.items():
    for cmd in (["runs"], ["leaderboard"], ["eval", "some-artifact", "--data", "DATA"],
                ["build", "ONNX", "--variant", "tiny", "--dtype", "fp32", "--input-size", "64"]):
        if name in ("store_empty_header", "store_cut", "store_dir") and cmd[0] in ("eval",):
            continue
        CASES.append(C(f"store-{name}-{cmd[0]}", "store/home",
                       lambda name=name, cmd=cmd: [str(f.data) if a == "DATA" else str(f.onnx) if a == "ONNX" else a
                                                   for a in cmd] + ["--home", str(f.root / name)],
                       says=says, home=False))
CASES += [
    C("home-under-a-file", "store/home", lambda: ["runs", "--home", str(f.root / "home_is_file" / "sub")],
      says="not a directory", home=False),
    C("store-plain-garbage", "store/home", lambda: ["runs", "--home", str(f.root / "store_garbage")],
      says="not a database", json=False, home=False),
]

# -- 1/3. ONNX files that are not image classifiers --------------------------------------
for name, says in BAD_ONNX.items():
    CASES.append(C(f"onnx-build-{name}", "onnx", _build(lambda name=name: getattr(f, name)), says=says))
    CASES.append(C(f"onnx-eval-{name}", "onnx", _eval(lambda name=name: str(getattr(f, name))), says=says))
for name in ("zero.onnx", "trunc.onnx", "add2.onnx", "ir99.onnx", "unknown_op.onnx", "image_output.onnx"):
    CASES.append(C(f"onnx-bench-{name}", "onnx", lambda name=name: ["bench", str(getattr(f, name)),
                                                                      "--batch", "1", "--iterations", "1"],
                   says=BAD_ONNX[name]))
CASES += [
    C("onnx-build-not-onnx-suffix", "onnx", _build(lambda: f.__getattr__("model.txt")), says=".onnx"),
    C("onnx-build-missing", "onnx", _build(lambda: f.root / "nope.onnx"), says="not found"),
    C("onnx-build-a-folder", "onnx", _build(lambda: f.data), says="onnx"),
    C("onnx-eval-missing", "onnx", _eval(lambda: str(f.root / "nope.onnx")), says="neither"),
    C("onnx-bench-missing", "onnx", lambda: ["bench", str(f.root / "nope.onnx")], says="no such file"),
    C("onnx-plain-trunc", "onnx", _build(lambda: f.__getattr__("trunc.onnx")), says="onnx", json=False),
]

# -- 2. hangs: FIFOs and devices (subprocesses, HANG_S) --------------------------------
CASES += [
    C("fifo-eval-labels", "fifo/device", _eval(lambda: str(f.onnx), "--labels", lambda: str(f.fifo)), says="fifo",
      subprocess=True),
    C("fifo-topk-file", "fifo/device", lambda: ["eval-topk", str(f.fifo)], says="fifo", subprocess=True,
      home=False),
    C("fifo-topk-labels", "fifo/device", lambda: ["eval-topk", str(f.__getattr__("valid.txt")), "--labels",
                                                  str(f.fifo)], says="fifo", subprocess=True, home=False),
    C("device-topk-file", "fifo/device", lambda: ["eval-topk", "/dev/zero"], says="device", subprocess=True,
      home=False),
    C("device-eval-labels", "fifo/device", _eval(lambda: str(f.onnx), "--labels", "/dev/zero"), says="device",
      subprocess=True),
    C("fifo-build-onnx", "fifo/device", _build(lambda: f.__getattr__("fifo.onnx")), says="fifo", subprocess=True),
    C("fifo-eval-model", "fifo/device", _eval(lambda: str(f.__getattr__("fifo.onnx"))), says="fifo",
      subprocess=True),
    C("fifo-eval-data", "fifo/device", lambda: ["eval", str(f.onnx), "--data", str(f.fifo)], says="fifo",
      subprocess=True),
    C("fifo-run-profile", "fifo/device", lambda: ["run", "--profile", str(f.__getattr__("fifo.toml"))],
      says="fifo", subprocess=True),
    C("fifo-build-labels", "fifo/device", lambda: ["build", str(f.onnx), "--variant", "tiny", "--input-size", "64",
                                                   "--dtype", "int8", "--data", str(f.data), "--labels",
                                                   str(f.fifo)], says="fifo", subprocess=True),
    C("fifo-export-config", "fifo/device", lambda: ["export", "--source", "official", "--variant", "auto",
                                                    "--config", str(f.fifo)], says="fifo", subprocess=True),
    C("topk-a-folder", "fifo/device", lambda: ["eval-topk", str(f.data)], says="folder", home=False),
]

# -- 3. wrong successes: eval-topk contents, runs --limit, resume ------------------------
for name, says in (("cut.txt", "cut short"), ("id_99999.txt", "99999"), ("id_negative.txt", "-4"),
                   ("prob_nan.txt", "probability"), ("prob_2.txt", "probability"), ("garbage.txt", "not a vastai"),
                   ("empty.txt", "no result lines"), ("latin1.txt", "utf-8"), ("order.txt", "does not follow"),
                   ("starts_at_1.txt", "does not follow")):
    CASES.append(C(f"topk-{name}", "wrong success", lambda name=name: ["eval-topk", str(getattr(f, name))],
                   says=says, home=False))
for name, says in (("labels_bad.txt", "class_index"), ("labels_range.txt", "outside"),
                   ("labels_empty.txt", "no"), ("labels_twice.txt", "twice")):
    CASES.append(C(f"topk-{name}", "wrong success",
                   lambda name=name: ["eval-topk", str(f.__getattr__("valid.txt")), "--labels",
                                      str(getattr(f, name))], says=says, home=False))
CASES += [
    C("runs-limit-negative", "wrong success", lambda: ["runs", "--limit", "-5"], says="limit"),
    C("runs-limit-negative-plain", "wrong success", lambda: ["runs", "--limit", "-1"], says="limit", json=False),
    C("eval-resume-without-out", "wrong success", _eval(lambda: str(f.onnx), "--resume"), says="--out"),
    C("eval-out-holds-results", "wrong success",
      lambda: ["eval", str(f.onnx), "--data", str(f.data), "--out", str(next(f.good.glob("runs/*")))],
      says="already holds results"),
    C("eval-resume-other-model", "wrong success",
      lambda: ["eval", str(f.__getattr__("other.onnx")), "--data", str(f.data), "--out",
               str(next(f.good.glob("runs/*"))), "--resume"], says="model file"),
    C("compare-results-damaged", "wrong success",
      lambda: ["compare", str(f.__getattr__("results_bad.jsonl")), str(f.__getattr__("results_bad.jsonl"))],
      says="not a json line"),
    C("compare-results-no-id", "wrong success",
      lambda: ["compare", str(f.__getattr__("results_noid.jsonl")), str(f.__getattr__("results_noid.jsonl"))],
      says="no 'id'"),
    C("compare-unknown-run", "wrong success", lambda: ["compare", "999", "998"], says="not in"),
    C("compare-garbage-ref", "wrong success", lambda: ["compare", "abc def", "x"], says="not a run id"),
]

# -- numbers: bounds --------------------------------------------------------------------
CASES += [
    C("num-build-size-huge", "numbers", lambda: ["build", str(f.onnx), "--variant", "tiny", "--dtype", "fp32",
                                                 "--input-size", "3200000000000000000"], says="4096"),
    C("num-build-size-float", "numbers", lambda: ["build", str(f.onnx), "--dtype", "fp32", "--input-size", "3.2e18"],
      says="input size"),
    C("num-build-size-225", "numbers", lambda: ["build", str(f.onnx), "--dtype", "fp32", "--input-size", "225"],
      says="multiple of 32"),
    C("num-build-size-zero", "numbers", lambda: ["build", str(f.onnx), "--dtype", "fp32", "--input-size", "0"],
      says="positive"),
    C("num-build-size-negative", "numbers", lambda: ["build", str(f.onnx), "--dtype", "fp32", "--input-size=-64"],
      says="input size"),
    C("num-build-size-three", "numbers", lambda: ["build", str(f.onnx), "--dtype", "fp32", "--input-size", "1x2x3"],
      says="input size"),
    C("num-eval-size-huge", "numbers", _eval(lambda: str(f.onnx), "--input-size", "99999999"), says="4096"),
    C("num-models-size-huge", "numbers", lambda: ["models", "--input-size", "8192"], says="4096"),
    C("num-models-size-odd", "numbers", lambda: ["models", "--input-size", "100"], says="multiple of 32"),
    C("num-export-size-huge", "numbers", lambda: ["export", "--input-size", "3200000000000000000"], says="4096"),
    C("num-export-opset-7", "numbers", lambda: ["export", "--opset", "7"], says="opset"),
    C("num-run-set-size-huge", "numbers", lambda: ["run", "--profile", "profiles/demo.toml", "--set",
                                                   "model.input_size=[3.2e18, 3.2e18]"], says="input"),
    C("num-run-profile-size-huge", "numbers", lambda: ["run", "--profile", str(f.__getattr__("huge_size.toml"))],
      says="input"),
    C("num-run-profile-neg-batch", "numbers", lambda: ["run", "--profile", str(f.__getattr__("neg_batch.toml"))],
      says="batch_size"),
    C("num-run-set-batch-huge", "numbers", lambda: ["run", "--profile", "profiles/demo.toml", "--set",
                                                    "data.batch_size=100000"], says="batch_size"),
    C("num-run-set-count-zero", "numbers", lambda: ["run", "--profile", "profiles/demo.toml", "--set",
                                                    "build.calibration.count=0"], says="count"),
    C("num-bench-batch-zero", "numbers", lambda: ["bench", f.artifact, "--batch", "0"], says="batch"),
    C("num-bench-batch-text", "numbers", lambda: ["bench", f.artifact, "--batch", "one"], says="batch"),
    C("num-bench-streams-zero", "numbers", lambda: ["bench", f.artifact, "--streams", "0"], says="streams"),
    C("num-bench-iterations-zero", "numbers", lambda: ["bench", f.artifact, "--iterations", "0"],
      says="iterations"),
    C("num-bench-rounds-negative", "numbers", lambda: ["bench", f.artifact, "--rounds", "-2"], says="rounds"),
    C("num-bench-warmup-negative", "numbers", lambda: ["bench", f.artifact, "--warmup", "-1"], says="warmup"),
    C("num-build-budget-100", "numbers", lambda: ["build", str(f.onnx), "--variant", "tiny", "--input-size", "64",
                                                  "--dtype", "int8", "--data", str(f.data),
                                                  "--accuracy-budget", "150"], says="budget"),
    C("num-build-percentile-0", "numbers", lambda: ["build", str(f.onnx), "--variant", "tiny", "--input-size",
                                                    "64", "--data", str(f.data), "--percentile", "0"],
      says="percentile"),
]

# -- official YAML: channel counts and friends -------------------------------------------
for name, says in (("yaml_negative.yaml", "outside"), ("yaml_huge.yaml", "outside"), ("yaml_zero.yaml", "outside"),
                   ("yaml_text.yaml", "non-numeric"), ("yaml_empty.yaml", "stage1"), ("yaml_broken.yaml", "yaml"),
                   ("yaml_block.yaml", "block"), ("yaml_branches.yaml", "branch")):
    CASES.append(C(f"yaml-export-{name}", "official yaml",
                   lambda name=name: ["export", "--source", "official", "--variant", "auto", "--config",
                                      str(getattr(f, name))], says=says))
CASES += [
    C("yaml-missing", "official yaml", lambda: ["export", "--source", "official", "--variant", "auto", "--config",
                                                str(f.root / "nope.yaml")], says="not found"),
    C("yaml-run-set-config", "official yaml", lambda: ["run", "--profile", "profiles/demo.toml", "--set",
                                                       "model.source=official", "--set",
                                                       f"model.config={f.__getattr__('yaml_negative.yaml')}",
                                                       "--set", "model.variant=auto"], says="outside"),
]

# -- profiles and --set ----------------------------------------------------------------------
CASES += [
    C("profile-missing", "profile", lambda: ["run", "--profile", str(f.root / "nope.toml")], says="not found"),
    C("profile-not-toml", "profile", lambda: ["run", "--profile", str(f.__getattr__("not_toml.toml"))],
      says="toml"),
    C("profile-unknown-key", "profile", lambda: ["run", "--profile", str(f.__getattr__("unknown_key.toml"))],
      says="colour"),
    C("profile-bad-dtype", "profile", lambda: ["run", "--profile", str(f.__getattr__("bad_dtype.toml"))],
      says="dtype"),
    C("profile-bad-variant", "profile", lambda: ["run", "--profile", str(f.__getattr__("bad_variant.toml"))],
      says="hrnet_w999"),
    C("profile-latin1", "profile", lambda: ["run", "--profile", str(f.__getattr__("latin1.toml"))], says="utf-8"),
    C("profile-a-folder", "profile", lambda: ["run", "--profile", str(f.data)], says="folder"),
    C("profile-set-no-equals", "profile", lambda: ["run", "--profile", "profiles/demo.toml", "--set", "build"],
      says="key=value"),
    C("profile-set-unknown", "profile", lambda: ["run", "--profile", "profiles/demo.toml", "--set", "build.colour=1"],
      says="colour"),
    C("profile-output-dir-file", "profile", lambda: ["run", "--profile", "profiles/demo.toml", "--set",
                                                     f"output.dir={f.onnx}", "--set", "data.path="],
      says="output folder"),
    C("profile-tui-bad", "profile", lambda: ["tui", "--profile", str(f.__getattr__("not_toml.toml"))], says="toml"),
    C("profile-serve-bad", "profile", lambda: ["serve", "--profile", str(f.root / "nope.toml")],
      says="not found"),
    C("profile-bench-bad", "profile", lambda: ["bench", "--profile", str(f.__getattr__("bad_dtype.toml"))],
      says="dtype"),
]

# -- 6. serve ---------------------------------------------------------------------------------
CASES += [
    C("serve-busy-port", "serve", lambda: ["serve", "--port", str(f.port)], says="address already in use"),
    C("serve-all-interfaces", "serve", lambda: ["serve", "--host", "0.0.0.0"], says="--public"),
    C("serve-public-ipv6-any", "serve", lambda: ["serve", "--host", "::"], says="--public"),
    C("serve-bad-host", "serve", lambda: ["serve", "--host", "no-such-host.invalid"], says="cannot resolve"),
    C("serve-host-spaces", "serve", lambda: ["serve", "--host", "local host"], says="host"),
    C("serve-short-token", "serve", lambda: ["serve", "--public", "--token", "abc"], says="16"),
    C("serve-token-without-public", "serve", lambda: ["serve", "--token", "a" * 20], says="--public"),
    C("serve-busy-port-plain", "serve", lambda: ["serve", "--port", str(f.port)], says="address already in use",
      json=False),
]

# -- more: artifacts, data, npz, leaderboard, models, sources ---------------------------------
CASES += [
    C("artifact-unknown-sensitivity", "more", lambda: ["sensitivity", "no-such-artifact"], says="no such artifact"),
    C("artifact-fp32-sensitivity", "more", lambda: ["sensitivity", f.artifact], says="int8"),
    C("artifact-unknown-eval", "more", _eval(lambda: "no-such-artifact"), says="neither"),
    C("artifact-unknown-bench", "more", lambda: ["bench", "no-such-artifact"], says="no such file"),
    C("bench-torch-with-artifact", "more", lambda: ["bench", f.artifact, "--backend", "torch"], says="torch"),
    C("data-missing-folder", "more", lambda: ["eval", str(f.onnx), "--data", str(f.root / "nope")],
      says="not found"),
    C("data-empty-folder", "more", lambda: ["eval", str(f.onnx), "--data", str(f.root / "bad")], says="image"),
    C("data-bad-layout", "more", _eval(lambda: str(f.onnx), "--layout", "spiral"), says="layout"),
    C("data-filelist-missing-images", "more", lambda: ["eval", str(f.onnx), "--data",
                                                       str(f.__getattr__("list.txt")), "--layout", "filelist"],
      says="list"),
    C("data-labels-missing", "more", _eval(lambda: str(f.onnx), "--labels", lambda: str(f.root / "nope.txt")),
      says="not found"),
    C("data-labels-garbage", "more", _eval(lambda: str(f.onnx), "--labels", lambda: str(f.__getattr__("labels_bad.txt"))),
      says="labels_bad.txt"),
    C("data-bad-preprocess", "more", _eval(lambda: str(f.onnx), "--preprocess", "sepia"), says="sepia"),
    C("data-bad-backend", "more", _eval(lambda: str(f.onnx), "--backend", "abacus"), says="abacus"),
    C("build-bad-backend", "more", _build(lambda: f.onnx, "--backend", "abacus"), says="abacus"),
    C("build-bad-dtype", "more", lambda: ["build", str(f.onnx), "--dtype", "int4"], says="int4"),
    C("build-fp16-cpu", "more", lambda: ["build", str(f.onnx), "--dtype", "fp16"], says="fp16"),
    C("build-int8-no-data", "more", lambda: ["build", str(f.onnx), "--dtype", "int8"], says="--data"),
    C("build-bad-method", "more", lambda: ["build", str(f.onnx), "--input-size", "64", "--data", str(f.data),
                                           "--method", "vibes"], says="vibes"),
    C("build-torch-backend", "more", _build(lambda: f.onnx, "--backend", "torch"), says="torch"),
    C("build-exclude-on-fp32", "more", _build(lambda: f.onnx, "--exclude-node", "Conv_0"), says="int8"),
    C("npz-out-is-file", "more", lambda: ["npz", str(f.data), "--out", str(f.onnx)], says="tiny.onnx"),
    C("npz-missing-data", "more", lambda: ["npz", str(f.root / "nope"), "--out", str(f.root / "npz")],
      says="not found"),
    C("npz-bad-preprocess", "more", lambda: ["npz", str(f.data), "--out", str(f.root / "npz2"),
                                             "--preprocess", "sepia"], says="sepia"),
    C("leaderboard-bad-where", "more", lambda: ["leaderboard", "--where", "top1~~3"], says="where"),
    C("leaderboard-where-unknown-col", "more", lambda: ["leaderboard", "--where", "colour=red"], says="colour"),
    C("leaderboard-where-not-number", "more", lambda: ["leaderboard", "--where", "top1>=high"], says="number"),
    C("leaderboard-bad-sort", "more", lambda: ["leaderboard", "--sort", "vibes"], says="vibes"),
    C("leaderboard-bad-by", "more", lambda: ["leaderboard", "--by", "planet"], says="planet"),
    C("models-bad-source", "more", lambda: ["models", "--source", "hogwarts"], says="hogwarts"),
    C("export-bad-source", "more", lambda: ["export", "--source", "hogwarts"], says="hogwarts"),
    C("export-bad-variant", "more", lambda: ["export", "--variant", "hrnet_w999"], says="hrnet_w999"),
    C("export-bad-to", "more", lambda: ["export", "--to", "pdf"], says="pdf"),
    C("export-weights-missing", "more", lambda: ["export", "--weights", str(f.root / "nope.pth")], says="nope.pth"),
    C("export-weights-not-a-checkpoint", "more", lambda: ["export", "--weights", str(f.onnx)], says="tiny.onnx"),
    C("export-out-is-folder", "more", lambda: ["export", "--variant", "hrnet_w18_small", "--input-size", "64",
                                               "--out", str(f.data)], says="data"),
    C("artifact-badmeta-eval", "more", _eval(lambda: str(f.art_badmeta)), says="meta.json"),
    C("artifact-badmeta-bench", "more", lambda: ["bench", str(f.art_badmeta)], says="meta.json"),
    C("artifact-badmeta-sensitivity", "more", lambda: ["sensitivity", str(f.art_badmeta)], says="damaged"),
    C("artifact-flipped-eval", "wrong success", _eval(lambda: str(f.art_flipped)), says="fails verification"),
    C("artifact-flipped-bench", "wrong success", lambda: ["bench", str(f.art_flipped)], says="fails verification"),
    C("openvino-garbage-xml-eval", "onnx", _eval(lambda: str(f.__getattr__("garbage.xml")), "--backend",
                                                 "openvino-cpu", "--input-size", "64"), says="unable to read the model"),
    C("openvino-garbage-xml-bench", "onnx", lambda: ["bench", str(f.__getattr__("garbage.xml")), "--backend",
                                                     "openvino-cpu", "--input-size", "64"], says="unable to read the model"),
    C("openvino-trunc-onnx-eval", "onnx", _eval(lambda: str(f.__getattr__("trunc.onnx")), "--backend",
                                                "openvino-cpu"), says="not a readable onnx"),
    C("bench-compare-no-variant", "more", lambda: ["bench", "--compare-backends"], says="--variant"),
    C("bench-bad-format", "more", lambda: ["bench", f.artifact, "--format", "pdf"], says="format"),
]


def _json_cases() -> list[Case]:
    return CASES


def _run(case: Case) -> tuple[int, str, str, float]:
    argv = case.argv()
    if case.home and "--home" not in argv:
        argv += ["--home", str(f.good)]
    if case.json:
        argv.append("--json")
    t0 = time.monotonic()
    if case.subprocess:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(Path(__file__).parents[1]),
                                                                       os.environ.get("PYTHONPATH", "")) if p))
        try:
            p = subprocess.run([sys.executable, "-m", "workbench", *argv], capture_output=True, text=True,
                               timeout=HANG_S, env=env, cwd=Path(__file__).parents[1])
        except subprocess.TimeoutExpired:
            pytest.fail(f"{case.id}: hung for {HANG_S} s")
        return p.returncode, p.stdout, p.stderr, time.monotonic() - t0
    cwd = os.getcwd()
    os.chdir(Path(__file__).parents[1])  # profiles/demo.toml
    try:
        r = runner.invoke(app, argv)
    finally:
        os.chdir(cwd)
    return r.exit_code, r.stdout, r.stderr, time.monotonic() - t0


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case) -> None:
    code, out, err, seconds = _run(case)
    text = out + err
    assert "Traceback" not in text, text
    assert code == case.code, f"{case.id}: exit {code}\n{text}"
    assert seconds < HANG_S, f"{case.id}: took {seconds:.1f} s"
    if case.json:
        rec = json.loads(out)
        assert rec["ok"] is False and rec["exit_code"] == case.code and rec["error"]
        message = rec["error"]
        assert "\n" not in message
    else:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        message = lines[0]
    assert case.says.lower() in message.lower(), f"{case.id}: {message!r} lacks {case.says!r}"
    print(f"[{case.cls}] {case.id} -> exit {code}: {message}")  # shown with -s: what each case prints
    if case.home:
        con = sqlite3.connect(f.good / "store.sqlite")
        try:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            statuses = {r[0] for r in con.execute("SELECT status FROM runs")}
        finally:
            con.close()
        assert "running" not in statuses


def test_case_count() -> None:
    """At least 120 cases, covering every command and every class of the issue."""
    per_class = Counter(c.cls for c in CASES)
    print("\nfuzz cases per class:", dict(per_class), "total", len(CASES))
    assert len(CASES) >= 120
    assert len({c.id for c in CASES}) == len(CASES)
    assert {"usage", "store/home", "onnx", "fifo/device", "wrong success", "numbers", "official yaml",
            "profile", "serve", "more"} <= set(per_class)
    used = {c.argv()[0] for c in CASES if c.argv() and not c.argv()[0].startswith("-")}
    assert set(COMMANDS) <= used, set(COMMANDS) - used
