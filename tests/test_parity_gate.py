"""The parity gate is right both ways: every correct export passes at one relative
tolerance, whatever the logits' scale; an export with one weight changed or one op
swapped fails, and the failure names the setting to change."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from workbench.errors import CheckFailed
from workbench.parity import TOLERANCE_SETTING, check_parity, compare_logits

SIZE = (64, 64)


def test_the_gate_is_scale_free():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 1000))
    noise = 1e-6 * rng.standard_normal(a.shape)
    for scale in (1e-2, 1.0, 1e6):  # float32 rounding grows with the logits; so does the allowance
        p = check_parity("ONNX", scale * a, scale * (a + noise), 1e-4)
        assert p.rel < 1e-5 and p.top1_agree == p.top5_agree == 4
    with pytest.raises(CheckFailed, match="export.parity_tolerance"):
        check_parity("ONNX", a, a + 1e-3 * np.abs(a).max(), 1e-4)


def test_a_near_tie_is_not_a_disagreement():
    a = np.array([[5.0, 5.0 - 1e-7, 1.0, 0.5, 0.2, 0.1, 0.0]])
    b = a.copy()
    b[0, 0], b[0, 1] = a[0, 1], a[0, 0]  # the two leaders swap by less than the allowance
    p = compare_logits(a, b, 1e-4)
    assert p.top1_agree == 1 and not p.problems(1e-4)


def test_nan_logits_fail_and_say_whose():
    a = np.ones((2, 10))
    bad = a.copy()
    bad[0, 3] = np.nan
    p = compare_logits(bad, a)
    assert p.nonfinite_reference == 1 and "weights are broken" in p.problems(1e-4)[0]
    p = compare_logits(a, bad)
    assert p.nonfinite_candidate == 1 and p.problems(1e-4)
    with pytest.raises(CheckFailed, match="check the checkpoint"):
        check_parity("ONNX", bad, a, 1e-4)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, torch_one_thread):
    """hrnet_w18_small random-init (as `run` loads it), exported at 64x64 with the default gate."""
    from workbench.export import default_parity_inputs, export_onnx, torch_logits
    from workbench.sources import ModelSpec, load_model

    lm = load_model(ModelSpec(source="timm", variant="hrnet_w18_small"))
    x = default_parity_inputs(4, SIZE)
    res = export_onnx(lm.model, tmp_path_factory.mktemp("x") / "m.onnx", SIZE, parity_inputs=x)
    return lm.model, res, x, torch_logits(lm.model, x)


def _logits(proto, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


def test_the_correct_export_passes_with_room(exported):
    _, res, _, _ = exported
    assert res.parity_rel < 1e-5 < res.tolerance  # 1e-4 by default: 10x above fp32 rounding


def _one_weight_doubled(proto):
    from onnx import numpy_helper

    convs = [i for i in proto.graph.initializer if len(i.dims) == 4]
    ini = convs[-1]  # the last conv: the least any change can spread before the logits
    w = numpy_helper.to_array(ini).copy()
    w[tuple(s // 2 for s in w.shape)] *= 2
    ini.CopyFrom(numpy_helper.from_array(w, ini.name))


def _one_add_made_sub(proto):
    adds = [n for n in proto.graph.node if n.op_type == "Add"]
    adds[len(adds) // 2].op_type = "Sub"


def _one_resize_made_linear(proto):
    resizes = [n for n in proto.graph.node if n.op_type == "Resize"]
    for a in resizes[len(resizes) // 2].attribute:
        if a.name == "mode":
            a.s = b"linear"


@pytest.mark.parametrize("tamper", [_one_weight_doubled, _one_add_made_sub, _one_resize_made_linear])
def test_a_broken_export_fails(exported, tamper):
    import onnx

    _, res, x, ref = exported
    proto = onnx.load(str(res.path))
    tamper(proto)
    with pytest.raises(CheckFailed) as info:
        check_parity("ONNX", ref, _logits(proto, x), res.tolerance)
    msg = str(info.value)
    assert "of the logits' scale" in msg and TOLERANCE_SETTING in msg and "\n" not in msg


def test_nan_weights_fail_the_export_clearly(exported, tmp_path):
    import torch

    from workbench.export import export_onnx

    model = copy.deepcopy(exported[0])
    with torch.no_grad():
        next(p for p in model.parameters() if p.dim() == 4)[0, 0, 0, 0] = float("nan")
    with pytest.raises(CheckFailed, match="weights are broken") as info:
        export_onnx(model, tmp_path / "nan.onnx", SIZE, parity_inputs=exported[2])
    assert not (tmp_path / "nan.onnx").exists() and "\n" not in str(info.value)


@pytest.mark.slow
@pytest.mark.parametrize("variant", [
    "hrnet_w18_small", "hrnet_w18_small_v2", "hrnet_w18", "hrnet_w30", "hrnet_w32", "hrnet_w40",
    "hrnet_w44", "hrnet_w48", "hrnet_w64", "hrnet_w18_ssld", "hrnet_w48_ssld"])
def test_every_timm_variant_passes_at_224_with_random_init(variant, tmp_path, torch_one_thread):
    from workbench.export import default_parity_inputs, export_onnx
    from workbench.sources import ModelSpec, load_model

    lm = load_model(ModelSpec(source="timm", variant=variant))
    res = export_onnx(lm.model, tmp_path / "m.onnx", (224, 224),
                      parity_inputs=default_parity_inputs(2, (224, 224)))  # the default tolerance
    assert res.parity_rel <= res.tolerance and res.parity_cosine > 0.9999
