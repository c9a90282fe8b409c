"""ONNX export: opsets, static/dynamic batch, parity recorded and gated, atomic writes."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from workbench.errors import BadInput, CheckFailed
from workbench.export import export_onnx, export_torchscript, read_export_metadata
from workbench.sources import ModelSpec, load_model
from workbench.sources.timm_source import randomize_weights, randomized_model

pytestmark = pytest.mark.usefixtures("torch_one_thread")



@pytest.fixture(scope="module")
def small():
    lm = load_model(ModelSpec("timm", "hrnet_w18_small", "random-init"))
    randomize_weights(lm.model, seed=1)
    return lm.model


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(3).standard_normal((3, 3, 64, 64)).astype(np.float32)


@pytest.mark.parametrize("opset,dynamic", [(9, True), (11, False), (11, True), (17, True), (20, False)])
def test_small_v1_parity_at_opset(small, images, tmp_path, opset, dynamic):
    out = tmp_path / f"m{opset}{dynamic}.onnx"
    res = export_onnx(small, out, (64, 64), opset=opset, dynamic_batch=dynamic,
                      parity_inputs=images, tolerance=1e-4)
    assert res.path == out and out.is_file()
    assert res.opset == opset and res.dynamic_batch is dynamic and res.input_size == (64, 64)
    assert res.parity_images == 3
    assert res.parity_max_abs <= 1e-4 and res.parity_cosine > 0.99999
    proto = onnx.load(str(out))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) == opset
    batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert (batch_dim.dim_param == "batch") if dynamic else (batch_dim.dim_value == 1)
    ops = {n.op_type for n in proto.graph.node}
    assert ("Upsample" if opset < 10 else "Resize") in ops  # opset 9 has no Resize yet
    assert "BatchNormalization" not in ops  # folded into the convs by the exporter
    # the recorded figures are the returned ones
    meta = read_export_metadata(out)
    assert meta is not None and meta.parity_max_abs == res.parity_max_abs
    assert meta.opset == opset and meta.dynamic_batch is dynamic
    # independent check with a fresh ORT session
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": images[:1]})[0]
    with torch.no_grad():
        ref = small(torch.from_numpy(images[:1])).numpy()
    assert np.max(np.abs(got - ref)) <= 1e-4


def test_parity_without_inputs_uses_the_seeded_defaults(small, tmp_path):
    """No parity images given (as tests/tinynet.py exports): the seeded defaults are used."""
    from workbench.export import DEFAULT_PARITY_IMAGES

    res = export_onnx(small, tmp_path / "d.onnx", (64, 64), opset=17)
    assert res.parity_images == DEFAULT_PARITY_IMAGES and res.parity_max_abs <= 1e-4


def test_parity_gate_fails_and_leaves_no_file(small, images, tmp_path):
    out = tmp_path / "strict.onnx"
    with pytest.raises(CheckFailed, match="parity failed: max abs"):
        export_onnx(small, out, (64, 64), parity_inputs=images, tolerance=1e-12)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temp file left either


@pytest.mark.parametrize("size", [225, (224, 240), 0])
def test_bad_input_size_is_rejected_up_front(small, tmp_path, size):
    with pytest.raises(BadInput, match="not a multiple of 32|must be positive"):
        export_onnx(small, tmp_path / "x.onnx", size)
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("opset", [8, 21])
def test_opset_out_of_range(small, tmp_path, opset):
    with pytest.raises(BadInput, match="9-20"):
        export_onnx(small, tmp_path / "x.onnx", 64, opset=opset)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_export_with_parity(small, images, tmp_path):
    out = tmp_path / "m.pt"
    res = export_torchscript(small, out, (64, 64), parity_inputs=images)
    assert res.format == "torchscript" and res.parity_max_abs <= 1e-5
    extra = {"hrnet_wb.json": ""}
    m = torch.jit.load(str(out), _extra_files=extra)
    assert b"\"parity_max_abs\"" in extra["hrnet_wb.json"]
    with torch.no_grad():
        a = m(torch.from_numpy(images)).numpy()
        b = small(torch.from_numpy(images)).numpy()
    assert np.max(np.abs(a - b)) <= 1e-5


@pytest.fixture(scope="module")
def w18():
    return randomized_model("hrnet_w18", seed=2)


def test_w18_parity(w18, images, tmp_path, opset=17, dynamic=True):
    """One w18 cell here (the pipeline's default); the full variant × opset × batch matrix
    is benchmarks/parity_matrix.py."""
    res = export_onnx(w18, tmp_path / "w18.onnx", (64, 64), opset=opset, dynamic_batch=dynamic,
                      parity_inputs=images)
    assert res.parity_max_abs <= 1e-4 and res.parity_cosine > 0.99999
    proto = onnx.load(str(res.path))
    ops = [n.op_type for n in proto.graph.node]
    # FACTS §4: the legacy exporter folds BN, leaving 325 convs, 31 nearest Resizes, one Gemm
    assert ops.count("Conv") == 325 and ops.count("Gemm") == 1
    assert ops.count("Resize") + ops.count("Upsample") == 31


def test_export_cli_prints_parity(tmp_path):
    from typer.testing import CliRunner

    from workbench.cli import _load_commands
    from workbench.cli.app import app

    _load_commands()
    out = tmp_path / "s.onnx"
    r = CliRunner().invoke(app, ["export", "--variant", "small_v1", "--input-size", "64", "--opset", "11",
                                 "--static-batch", "--parity-images", "2", "--out", str(out),
                                 "--home", str(tmp_path / "home")])
    assert r.exit_code == 0, r.output
    assert f"wrote {out} (onnx opset 11, static batch, 64x64)" in r.stdout
    assert "parity vs torch on 2 images: max abs" in r.stdout
    meta = read_export_metadata(out)
    assert meta is not None and meta.opset == 11 and not meta.dynamic_batch and meta.parity_images == 2
    r = CliRunner().invoke(app, ["export", "--variant", "small_v1", "--input-size", "64", "--to", "mmcls",
                                 "--out", str(tmp_path / "m.pth"), "--json", "--home", str(tmp_path / "home")])
    rec = __import__("json").loads(r.stdout)
    assert rec["ok"] and rec["format"] == "mmcls" and rec["parity_max_abs"] <= 1e-5
    from unit_rule import check_units  # the unit rule over `export --json` (see test_unit_rule.py)

    assert check_units(rec) == []
