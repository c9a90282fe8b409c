"""Per-node sensitivity on the trained tiny HRNet, and the accuracy-budget search."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from tinynet import tinynet  # noqa: F401  (session fixture)

from workbench.build import BuildRecipe, CalibrationSpec, build_artifact, select_calibration
from workbench.build.budget import build_with_accuracy_budget
from workbench.build.sensitivity import artifact_sensitivity, classify_nodes, fake_quant


@pytest.fixture(scope="module")
def shome(tmp_path_factory):
    from workbench.home import resolve_home

    return resolve_home(tmp_path_factory.mktemp("sens-home"))


@pytest.fixture(scope="module")
def kwargs(tinynet, shome):  # noqa: F811
    calib = select_calibration(tinynet.train_samples, count=60, seed=0)
    return dict(model_name="tinynet", input_size=tinynet.input_size, weights_id=tinynet.weights_id,
                calibration=calib, preprocessor=tinynet.preprocessor, home=shome)


@pytest.fixture(scope="module")
def report(tinynet, kwargs):  # noqa: F811
    art = build_artifact(tinynet.onnx_path, BuildRecipe("ort-cpu", "int8", CalibrationSpec("minmax", 60)),
                         **kwargs)
    return artifact_sensitivity(art.dir, art.meta, images=8, preprocessor=tinynet.preprocessor,
                                home=kwargs["home"])


def test_classify_finds_every_fusion_add(tinynet):  # noqa: F811
    import onnx

    kinds = classify_nodes(onnx.load(str(tinynet.onnx_path)))
    fuse = sorted(n for n, k in kinds.items() if k == "fuse")
    # stage2: 2 outputs x 1 add; stage3: 3 x 2; stage4: 4 x 3 -> 2 + 6 + 12 = 20 fusion Adds
    assert len(fuse) == 20
    assert all("/stage" in n and "branches" not in n for n in fuse)
    assert sum(k == "head-fuse" for k in kinds.values()) == 3  # incre + downsamp joins
    assert kinds["/layer1/layer1.0/Add"] == "residual"


def test_fake_quant_matches_onnx_semantics():
    x = np.array([-1.0, 0.0, 0.26, 1.0, 9.0], np.float32)
    out = fake_quant(x, np.float32(0.5), np.uint8(2))
    np.testing.assert_allclose(out, [-1.0, 0.0, 0.5, 1.0, 9.0])  # -1 -> q=0 clamps at zp-2
    assert fake_quant(np.float32([200.0]), np.float32(0.5), np.uint8(0))[0] == 127.5


def test_sensitivity_ranks_nodes_and_blames_fusion_adds(report):
    ranked = report.ranked()
    assert report.images == 8 and len(ranked) > 60
    sqnr = [n.local_sqnr_db for n in ranked]
    assert sqnr == sorted(sqnr) and all(np.isfinite(sqnr))
    assert 10 < statistics.median(sqnr) < 80  # quantization noise, not garbage
    by_kind: dict[str, list[float]] = {}
    for n in ranked:
        by_kind.setdefault(n.kind, []).append(n.local_sqnr_db)
    # HRNet's fuse-layer Adds join branches of very different range: worse than the convs
    assert statistics.median(by_kind["fuse"]) < statistics.median(by_kind["conv"])
    order = report.exclusion_order()
    assert len(set(order)) == len(order) == len(ranked)
    first_kinds = {n.node: n.kind for n in ranked}
    n_fuse = len(by_kind["fuse"]) + len(by_kind.get("head-fuse", []))
    assert all(first_kinds[n] in ("fuse", "head-fuse") for n in order[:n_fuse])
    # the accumulated error is reported where the int8 model exposes the node's output
    assert any(n.sqnr_db is not None for n in ranked)


def test_accuracy_budget_excludes_fusion_adds_first_until_met(tinynet, kwargs):  # noqa: F811
    # a deliberately thin calibration (2 images per class, minmax) leaves a few of the 360
    # held-out images flipped; the search must then restore full agreement
    kw = {**kwargs, "calibration": select_calibration(tinynet.train_samples, count=12, seed=0)}
    recipe = BuildRecipe("ort-cpu", "int8", CalibrationSpec("minmax", 12))
    res = build_with_accuracy_budget(tinynet.onnx_path, recipe, agreement_samples=tinynet.val_samples,
                                     min_agreement=1.0, sensitivity_images=8, threads=1, **kw)
    d = res.as_dict()
    assert res.baseline_agreement < 1.0 <= res.final_agreement
    order = res.sensitivity.exclusion_order()
    assert res.excluded_nodes == order[: len(res.excluded_nodes)]
    kinds = {n.node: n.kind for n in res.sensitivity.nodes}
    assert kinds[res.excluded_nodes[0]] == "fuse"
    assert res.artifact.meta["nodes_excluded"] == sorted(res.excluded_nodes)
    assert [s.excluded for s in res.steps][:2] == [0, 1]
    assert [s.agreement for s in res.steps][-1] == res.final_agreement
    assert d["latency_bs1_ms"]["int8"] > 0 and d["images"] == len(tinynet.val_samples)
    assert d["speed_cost"] is not None
