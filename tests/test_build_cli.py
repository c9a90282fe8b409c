"""``hrnet-wb build``, ``sensitivity`` and ``backends`` through the real CLI."""

from __future__ import annotations

import json

from tinynet import tinynet  # noqa: F401  (session fixture)
from typer.testing import CliRunner

from workbench.cli import _load_commands
from workbench.cli.app import app

_load_commands()
runner = CliRunner()


def _json(result) -> dict:
    assert result.stdout.strip(), result.output
    return json.loads(result.stdout)


def test_backends_lists_every_backend_with_a_reason():
    r = runner.invoke(app, ["backends", "--json"])
    assert r.exit_code == 0, r.output
    rows = {b["name"]: b for b in _json(r)["backends"]}
    assert set(rows) == {"torch", "ort-cpu", "openvino-cpu", "ort-gpu", "tensorrt"}
    assert rows["ort-cpu"]["available"] and rows["openvino-cpu"]["available"]
    assert rows["tensorrt"]["dtypes"] == ["fp32", "fp16", "int8"]
    import onnxruntime as ort

    for name, prov in (("ort-gpu", "CUDAExecutionProvider"), ("tensorrt", "TensorrtExecutionProvider")):
        if prov not in ort.get_available_providers():
            assert not rows[name]["available"] and prov in rows[name]["reason"]
    assert all(b["reason"] for b in rows.values())


def test_build_twice_then_sensitivity(tinynet, tmp_path):  # noqa: F811
    data = tinynet.root / "data" / "train"
    args = ["build", str(tinynet.onnx_path), "--variant", "tinynet", "--dtype", "int8",
            "--method", "minmax", "--count", "30", "--data", str(data), "--home", str(tmp_path), "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    rec = _json(first)
    assert rec["ok"] and not rec["cached"] and rec["name"] == "tinynet-int8-minmax-3_64_64-ort-cpu"
    assert rec["meta"]["calibration"]["images"] == 30
    second = _json(runner.invoke(app, args))
    assert second["cached"] and second["key"] == rec["key"]
    from workbench.store import Store

    row = Store(tmp_path / "store.sqlite").artifact(rec["key"])
    assert row is not None and row["dtype"] == "int8" and row["calibration"] == "minmax"

    s = runner.invoke(app, ["sensitivity", rec["name"], "--images", "2", "--home", str(tmp_path), "--json"])
    assert s.exit_code == 0, s.output
    sens = _json(s)
    assert sens["images"] == 2 and len(sens["nodes"]) > 60
    dbs = [n["local_sqnr_db"] for n in sens["nodes"]]
    assert dbs == sorted(dbs)
    text = runner.invoke(app, ["sensitivity", rec["key"][:10], "--images", "2", "--top", "5",
                               "--home", str(tmp_path)])
    assert text.exit_code == 0 and "--exclude-node" in text.stdout


def test_bad_input_exits_2_with_one_line(tinynet, tmp_path):  # noqa: F811
    r = runner.invoke(app, ["build", str(tinynet.onnx_path), "--dtype", "int8", "--home", str(tmp_path)])
    assert r.exit_code == 2 and "--data" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["build", str(tinynet.onnx_path), "--backend", "ort-cpu", "--dtype", "fp16",
                            "--home", str(tmp_path), "--json"])
    assert r.exit_code == 2 and _json(r)["ok"] is False
    r = runner.invoke(app, ["sensitivity", "no-such-artifact", "--home", str(tmp_path)])
    assert r.exit_code == 2 and "no such artifact" in r.output
