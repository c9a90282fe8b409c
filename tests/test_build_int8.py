"""int8 on a trained model: every calibration method keeps its accuracy; the artifacts are
what the recipes say (u8s8 QDQ, reduce_range only for a target without VNNI, symmetric for TensorRT, fp16 for GPUs); the
cache hits; sensitivity finds HRNet's fusion Adds; the accuracy budget reaches its target.

All of it runs the real code on the tiny trained HRNet from ``tinynet.py``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from tinynet import TinyNet, tinynet  # noqa: F401  (session fixture)

from workbench.backends import open_predictor
from workbench.build import (
    BuildRecipe,
    CalibrationSpec,
    build_artifact,
    select_calibration,
)
from workbench.build.cache import file_sha256
from workbench.errors import BadInput

CALIB_COUNT = 120


@pytest.fixture(scope="module")
def bhome(tmp_path_factory):
    from workbench.home import resolve_home

    return resolve_home(tmp_path_factory.mktemp("build-home"))


@pytest.fixture(scope="module")
def calib(tinynet):  # noqa: F811
    return select_calibration(tinynet.train_samples, count=CALIB_COUNT, seed=0)


@pytest.fixture(scope="module")
def val_arrays(tinynet):  # noqa: F811
    x = np.stack([tinynet.preprocessor.load(s.path) for s in tinynet.val_samples])
    y = np.array([s.label for s in tinynet.val_samples])
    return x, y


def _predict(path: Path, backend: str, x: np.ndarray) -> np.ndarray:
    p = open_predictor(path, backend, 1)
    return np.concatenate([p.predict(x[i:i + 64]) for i in range(0, len(x), 64)]).argmax(1)


@pytest.fixture(scope="module")
def fp32_pred(tinynet, val_arrays):  # noqa: F811
    return _predict(tinynet.onnx_path, "ort-cpu", val_arrays[0])


def _build(net: TinyNet, home, recipe: BuildRecipe, calib=None, **kw):
    return build_artifact(net.onnx_path, recipe, model_name="tinynet", input_size=net.input_size,
                          weights_id=net.weights_id, export_settings={"opset": 17, "dynamic_batch": True},
                          calibration=calib, preprocessor=net.preprocessor, home=home,
                          source="test", **kw)


def test_tiny_model_is_really_trained(tinynet, val_arrays, fp32_pred):  # noqa: F811
    _, y = val_arrays
    assert tinynet.fp32_top1 >= 0.90
    # the exported ONNX computes what torch computed
    assert float((fp32_pred == y).mean()) == pytest.approx(tinynet.fp32_top1, abs=1 / len(y) + 1e-9)
    assert len(set(y.tolist())) == len(tinynet.class_names)


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_int8_keeps_accuracy(method, tinynet, bhome, calib, val_arrays, fp32_pred):  # noqa: F811
    x, y = val_arrays
    art = _build(tinynet, bhome, BuildRecipe("ort-cpu", "int8", CalibrationSpec(method, CALIB_COUNT)),
                 calib)
    pred = _predict(art.path, "ort-cpu", x)
    fp32_top1 = float((fp32_pred == y).mean())
    int8_top1 = float((pred == y).mean())
    agreement = float((pred == fp32_pred).mean())
    print(f"\n{method}: fp32 top-1 {fp32_top1:.3f}, int8 {int8_top1:.3f}, agreement {agreement:.3f}"
          f" on {len(y)} images")  # shown with -s
    assert fp32_top1 - int8_top1 <= 0.01, (method, fp32_top1, int8_top1)
    assert agreement >= 0.97, (method, agreement)
    # it is really int8: far smaller than fp32, QDQ nodes present
    assert art.meta["file_bytes"] < 0.5 * tinynet.onnx_path.stat().st_size
    c = art.meta["calibration"]
    assert c["method"] == method and c["images"] == CALIB_COUNT and c["skipped"] == 0
    assert c["manifest_hash"] == calib.manifest_hash
    assert sum(c["per_class"].values()) == CALIB_COUNT and len(c["per_class"]) == 6
    assert (c["percentile"] is not None) == (method == "percentile")
    # calibration never touched the evaluation images
    manifest = (art.dir / "calibration_manifest.tsv").read_text().splitlines()
    assert len(manifest) == CALIB_COUNT
    assert not {ln.split("\t")[0] for ln in manifest} & {s.id for s in tinynet.val_samples}


@pytest.mark.parametrize("target, reduce_range", [("avx2", True), ("vnni", False)])
def test_cpu_int8_graph_is_u8s8_per_channel_reduce_range_per_target(
        target, reduce_range, tinynet, bhome, calib, val_arrays, fp32_pred):  # noqa: F811
    """reduce_range only for a target without VNNI; both variants build on any machine."""
    art = _build(tinynet, bhome, BuildRecipe("ort-cpu", "int8", CalibrationSpec("percentile", CALIB_COUNT),
                                             target=target), calib)
    q = art.meta["quantization"]
    assert (q["activation_type"], q["weight_type"], q["per_channel"], q["reduce_range"]) == (
        "QUInt8", "QInt8", True, reduce_range)
    variant = "novnni" if reduce_range else "vnni"
    # one build per variant: vnni, bf16 and amx targets share the full-range artifact
    assert art.name.endswith(f"-{variant}") and q["variant"] == variant
    pred = _predict(art.path, "ort-cpu", val_arrays[0])
    agreement = float((pred == fp32_pred).mean())
    print(f"\n{target} (reduce_range={reduce_range}): agreement with fp32 {agreement:.3f}")
    assert agreement >= 0.97
    m = onnx.load(str(art.path))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    act_zp = {inits[n.input[2]].dtype for n in m.graph.node if n.op_type == "QuantizeLinear"}
    assert act_zp == {np.dtype("uint8")}
    weights = [inits[n.input[0]] for n in m.graph.node
               if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].ndim == 4]
    assert weights and all(w.dtype == np.int8 for w in weights)
    # reduce_range: 7-bit weights; without it the full 8 bits are used
    widest = max(int(np.abs(w.astype(np.int32)).max()) for w in weights)
    assert widest <= 64 if reduce_range else widest > 64
    per_channel = [n for n in m.graph.node if n.op_type == "DequantizeLinear"
                   and n.input[1] in inits and inits[n.input[1]].size > 1]
    assert len(per_channel) >= 60  # every conv's weights carry one scale per output channel


def test_openvino_int8_reads_the_qdq_model_and_agrees(tinynet, bhome, calib, val_arrays, fp32_pred):  # noqa: F811
    x, _ = val_arrays
    spec = CalibrationSpec("percentile", CALIB_COUNT)
    _build(tinynet, bhome, BuildRecipe("ort-cpu", "int8", spec), calib)  # cached if built already
    art = _build(tinynet, bhome, BuildRecipe("openvino-cpu", "int8", spec), calib)
    assert art.path.suffix == ".xml" and art.path.with_suffix(".bin").is_file()
    assert art.meta["calibration"]["ranges_cached"]  # reused the ORT build's calibration pass
    pred = _predict(art.path, "openvino-cpu", x)
    assert float((pred == fp32_pred).mean()) >= 0.97
    # what ran, read back from the compiled model: the convolutions in 8 bits, the rest f32
    s = open_predictor(art.path, "openvino-cpu", 1).runtime_settings()
    assert s.compute_precision == "int8" and s.inference_precision == "f32"
    assert s.limit_precision == "int8"


def test_same_recipe_twice_is_a_cache_hit(tinynet, bhome, calib):  # noqa: F811
    recipe = BuildRecipe("ort-cpu", "int8", CalibrationSpec("minmax", CALIB_COUNT))
    a = _build(tinynet, bhome, recipe, calib)
    stamp = a.path.stat().st_mtime_ns
    b = _build(tinynet, bhome, recipe, calib)
    assert b.cached and b.key == a.key and b.path == a.path and b.path.stat().st_mtime_ns == stamp
    assert b.meta == json.loads((a.dir / "meta.json").read_text())
    assert a.dir.name == f"{a.name}-{a.key[:12]}"
    assert a.name == f"tinynet-int8-minmax-3_64_64-ort-cpu-{recipe.variant}"
    # a different calibration set or recipe is a different artifact
    other = select_calibration(tinynet.train_samples, count=CALIB_COUNT, seed=1)
    c = _build(tinynet, bhome, recipe, other)
    assert not c.cached and c.key != a.key and c.dir != a.dir
    d = _build(tinynet, bhome, dataclasses.replace(recipe, exclude_nodes=("/stage2/stage2.0/Add",)), calib)
    assert d.key != a.key and d.meta["nodes_excluded"] == ["/stage2/stage2.0/Add"]
    # the excluded node really computes in fp32: its inputs are the float tensors
    g = onnx.load(str(d.path)).graph
    producer = {o: n.op_type for n in g.node for o in n.output}
    add = next(n for n in g.node if n.name == "/stage2/stage2.0/Add")
    assert [producer[i] for i in add.input] and "DequantizeLinear" not in [producer[i] for i in add.input]
    assert d.meta["quantization"]["inputs_kept_float"] == 2
    # nothing half-written is left beside the artifacts
    assert not [p for p in bhome.artifacts.iterdir() if p.name.startswith(".")]


def test_fp32_artifact_is_the_exported_onnx(tinynet, bhome):  # noqa: F811
    art = _build(tinynet, bhome, BuildRecipe("ort-cpu", "fp32"))
    assert file_sha256(art.path) == file_sha256(tinynet.onnx_path)
    assert art.name == "tinynet-fp32-none-3_64_64-ort-cpu" and art.calibration is None
    for key in ("source", "variant", "weights", "backend", "dtype", "input_size", "file_bytes",
                "build_seconds", "key", "preprocess"):
        assert key in art.meta
    ov = _build(tinynet, bhome, BuildRecipe("openvino-cpu", "fp32"))
    x = np.stack([tinynet.preprocessor.load(s.path) for s in tinynet.val_samples[:8]])
    ref = open_predictor(art.path, "ort-cpu", 1).predict(x)
    ovp = open_predictor(ov.path, "openvino-cpu", 1)
    got = ovp.predict(x)
    # the tolerance follows the precision OpenVINO reports it ran, not the CPU model: the
    # fp32 artifact must run in f32 everywhere (on a bf16 CPU the plugin's default is bf16)
    ran = ovp.runtime_settings()
    assert (ran.inference_precision, ran.compute_precision) == ("f32", "f32")
    tol = {"f32": 1e-4}[ran.compute_precision]
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


def test_tensorrt_int8_is_symmetric_and_fp16_is_half(tinynet, bhome, calib):  # noqa: F811
    trt = _build(tinynet, bhome, BuildRecipe("tensorrt", "int8", CalibrationSpec("percentile", CALIB_COUNT)),
                 calib)
    m = onnx.load(str(trt.path))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    zps = [inits[n.input[2]] for n in m.graph.node
           if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2 and n.input[2] in inits]
    assert zps and all(not z.any() for z in zps)  # symmetric: every zero point is 0
    # activations and weights s8; only biases are int32
    assert {z.dtype for z in zps} == {np.dtype("int8"), np.dtype("int32")}
    assert trt.meta["provider_options"] == {"trt_fp16_enable": True, "trt_int8_enable": True}
    half = _build(tinynet, bhome, BuildRecipe("ort-gpu", "fp16"))
    hm = onnx.load(str(half.path))
    assert {i.data_type for i in hm.graph.initializer if i.data_type in (1, 10)} == {10}
    assert hm.graph.input[0].type.tensor_type.elem_type == 1  # float32 in, cast inside


def test_bad_inputs_are_one_line_errors(tinynet, bhome, tmp_path):  # noqa: F811
    with pytest.raises(BadInput, match="fp16"):
        BuildRecipe("ort-cpu", "fp16")
    with pytest.raises(BadInput, match="tensorrt"):
        BuildRecipe("ort-gpu", "int8")
    with pytest.raises(BadInput, match="baseline"):
        BuildRecipe("torch", "fp32")
    with pytest.raises(BadInput, match="multiple of 32"):
        _build(dataclasses.replace(tinynet, input_size=(65, 64)), bhome, BuildRecipe("ort-cpu", "fp32"))
    with pytest.raises(BadInput, match="calibration"):
        _build(tinynet, bhome, BuildRecipe("ort-cpu", "int8"))
    with pytest.raises(BadInput, match="not found"):
        build_artifact(tmp_path / "nope.onnx", BuildRecipe("ort-cpu", "fp32"), model_name="x",
                       input_size=(64, 64), weights_id="x", home=bhome)


def test_undecodable_calibration_images_are_skipped(tinynet, bhome, tmp_path):  # noqa: F811
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    # 13 decodable images: batches of 4, 4, 4, 1 (ORT's histogram collector cannot stack
    # uneven batches; each chunk goes in as one batch)
    samples = list(tinynet.train_samples[:13]) + [type(tinynet.train_samples[0])(bad, 0, "broken")]
    calib = select_calibration(samples, count=14, seed=0)
    logs: list[str] = []
    from workbench.events import LogLine, Reporter

    rep = Reporter(lambda e: logs.append(e.message) if isinstance(e, LogLine) else None)
    art = _build(tinynet, bhome, BuildRecipe("ort-cpu", "int8", CalibrationSpec("percentile", 14)), calib,
                 reporter=rep)
    assert art.meta["calibration"]["images"] == 13 and art.meta["calibration"]["skipped"] == 1
    assert any("broken.jpg" in m for m in logs)


def test_excluding_every_node_gives_back_fp32(tinynet, bhome, calib, val_arrays):  # noqa: F811
    every = tuple(n.name for n in onnx.load(str(tinynet.onnx_path)).graph.node)
    art = _build(tinynet, bhome, BuildRecipe("ort-cpu", "int8", CalibrationSpec("minmax", CALIB_COUNT), every),
                 calib)
    x = val_arrays[0][:16]
    ref = open_predictor(tinynet.onnx_path, "ort-cpu", 1).predict(x)
    np.testing.assert_allclose(open_predictor(art.path, "ort-cpu", 1).predict(x), ref, rtol=1e-4, atol=1e-4)
    assert not [n for n in onnx.load(str(art.path)).graph.node if n.op_type == "QuantizeLinear"]
