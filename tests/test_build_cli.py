"""``hrnet-wb build``, ``sensitivity`` and ``backends`` through the real CLI."""

from __future__ import annotations

import json

import pytest
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
    assert set(rows) == {"torch", "ort-cpu", "openvino-cpu", "ort-gpu", "tensorrt", "torch-cuda"}
    assert rows["torch-cuda"]["available"]  # on the CPU where there is no GPU
    assert rows["ort-cpu"]["available"] and rows["openvino-cpu"]["available"]
    assert rows["tensorrt"]["dtypes"] == ["fp32", "fp16", "int8"]
    # the CPU fingerprint, printed and in --json
    from workbench.hardware import detect_cpu

    cpu = detect_cpu()
    rec = _json(r)
    assert rec["fingerprint"] == cpu.fingerprint and rec["cpu"]["kind"] == cpu.kind
    assert set(rec["cpu"]["flags"]) <= {"avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni",
                                        "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"}
    text = runner.invoke(app, ["backends"])
    assert text.exit_code == 0 and cpu.fingerprint in text.stdout
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
    from workbench.hardware import detect_cpu, target_for

    here = target_for(detect_cpu())
    # the recipe name and meta say which int8 was built for this CPU
    assert rec["ok"] and not rec["cached"]
    assert rec["name"] == f"tinynet-int8-minmax-3_64_64-ort-cpu-{here.int8_variant}"
    assert rec["meta"]["quantization"]["reduce_range"] is (not here.vnni)
    assert rec["meta"]["target"]["name"] == here.name and rec["meta"]["built_on"]["fingerprint"]
    assert rec["meta"]["calibration"]["images"] == 30
    # --target builds for another machine: the other variant, from the same calibration
    other = "vnni" if not here.vnni else "avx2"
    forced = _json(runner.invoke(app, [*args, "--target", other]))
    assert forced["ok"] and forced["key"] != rec["key"]
    assert forced["meta"]["quantization"]["reduce_range"] is here.vnni
    assert forced["name"].endswith("-novnni" if here.vnni else "-vnni")
    assert forced["meta"]["calibration"]["ranges_cached"]
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
    r = runner.invoke(app, ["build", str(tinynet.onnx_path), "--dtype", "int8", "--target", "sse",
                            "--data", str(tmp_path), "--home", str(tmp_path)])
    assert r.exit_code == 2 and "--target" in r.output and "Traceback" not in r.output


def test_bf16_is_offered_only_where_the_cpu_has_it(tinynet, tmp_path, fake_cpu):  # noqa: F811
    args = ["build", str(tinynet.onnx_path), "--backend", "openvino-cpu", "--dtype", "bf16",
            "--home", str(tmp_path), "--json"]
    fake_cpu()  # AVX2 only: bf16 is refused with the reason, exit 2
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "AVX512-BF16" in _json(r)["error"]
    rows = {b["name"]: b for b in _json(runner.invoke(app, ["backends", "--json"]))["backends"]}
    assert "bf16" not in rows["openvino-cpu"]["dtypes"]
    # the silicon has bf16 but OpenVINO does not offer it: still refused, OpenVINO's reason
    from conftest import AVX512_BF16

    fake_cpu(AVX512_BF16, ov_caps=("FP32", "INT8"))
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and "OPTIMIZATION_CAPABILITIES" in _json(r)["error"]
    # built for another machine that has it: allowed here (it runs there)
    fake_cpu()
    r = runner.invoke(app, [*args, "--target", "bf16"])
    assert r.exit_code == 0, r.output
    rec = _json(r)
    assert rec["dtype"] == "bf16" and rec["name"].endswith("-bf16-none-3_64_64-openvino-cpu")
    assert rec["meta"]["inference_precision_hint"] == "bf16"
    # ...but running it on this (faked AVX2) machine is the same one-line refusal
    from workbench.backends import open_predictor
    from workbench.errors import BadInput

    with pytest.raises(BadInput, match="AVX512-BF16"):
        open_predictor(rec["path"], "openvino-cpu", 1)


def test_exclude_node_and_accuracy_budget_build_through_the_profile(tinynet, tmp_path):  # noqa: F811
    """`build --exclude-node` keeps the node in fp32 (its own key); `--accuracy-budget`
    searches, measures agreement on images held out from calibration and says so."""
    data = tinynet.root / "data" / "train"
    base = ["build", str(tinynet.onnx_path), "--variant", "tinynet", "--dtype", "int8", "--method", "minmax",
            "--count", "10", "--data", str(data), "--home", str(tmp_path), "--json"]
    plain = _json(runner.invoke(app, base))
    node = "/stage2/stage2.0/Add"
    kept = _json(runner.invoke(app, [*base, "--exclude-node", node]))
    assert kept["meta"]["nodes_excluded"] == [node] and kept["key"] != plain["key"]
    r = runner.invoke(app, [*base, "--accuracy-budget", "50", "--agreement-images", "12",
                            "--sensitivity-images", "2", "--threads", "1"])
    assert r.exit_code == 0, r.output
    b = _json(r)["accuracy_budget"]
    assert b["images"] == 12 and b["target_agreement"] == 0.5 and "held out" in b["note"]
    assert b["steps"][0]["artifact"] == plain["name"] and b["worst_nodes"]
    r = runner.invoke(app, [*base, "--accuracy-budget", "150"])
    assert r.exit_code == 2 and "--accuracy-budget" in _json(r)["error"]
