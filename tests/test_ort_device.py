"""The ONNX Runtime device runner that ort-gpu and tensorrt share, run here on ORT's CPU
provider with CPU OrtValues (IO binding, the normalise and top-k graphs): the same code
that binds CUDA OrtValues on a GPU, which is not tested here (no onnxruntime-gpu)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_data_fixtures import make_tiny_onnx

from workbench.backends.ort_device import OrtDevicePredictor
from workbench.backends.ort_session import OrtPredictor
from workbench.evaluate.metrics import topk
from workbench.runtime import uint8_table

ASSETS = Path(__file__).resolve().parents[1] / "assets"
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_onnx(tmp_path_factory.mktemp("ortdev") / "m.onnx")


def test_uint8_is_normalised_by_the_runtime_from_the_cpu_table_and_only_k_come_back(tiny):
    import onnxruntime as ort

    pred = OrtDevicePredictor(tiny, 1)
    u8 = np.random.default_rng(0).integers(0, 256, (4, 3, 64, 64), dtype=np.uint8)
    table = uint8_table(MEAN, STD)
    f32 = np.stack([table[c][u8[:, c]] for c in range(3)], axis=1)
    with pytest.raises(ValueError, match="mean/std"):
        pred.predict(u8)
    pred.set_normalization(MEAN, STD)
    x = pred.to_device(u8)  # an OrtValue where the provider runs
    assert isinstance(x, ort.OrtValue) and x.data_type() == "tensor(float)"
    assert np.array_equal(x.numpy(), f32)
    want = OrtPredictor(tiny, 1).predict(f32)
    assert np.array_equal(pred.predict(u8), want) and np.array_equal(pred.predict(x), want)
    ids, probs = pred.predict_topk(u8, 5)
    host_ids, host_probs = topk(want, 5)
    assert ids.shape == probs.shape == (4, 5) and (ids == host_ids).all()
    np.testing.assert_allclose(probs, host_probs, rtol=1e-5)  # float32 softmax there
    assert pred.time_run(x) > 0 and pred.device == "cpu" and not pred.on_gpu


def test_topk_ties_go_to_the_lower_id_as_on_the_host(tiny):
    pred = OrtDevicePredictor(tiny, 1)
    logits = np.array([[0.0, 3.0, 1.0, 3.0, 2.0]], dtype=np.float32)
    ids, _ = pred._topk(pred._upload(logits), 3)
    assert ids.tolist() == [[1, 3, 4]] == topk(logits, 3)[0].tolist()


def test_the_evaluator_sends_uint8_and_the_top5_equals_the_cpu_float_path(tiny, tmp_path):
    from workbench.data import open_dataset
    from workbench.data.preprocess import Preprocessor, preset_for
    from workbench.evaluate import evaluate
    from workbench.evaluate.formats import read_results

    pre = Preprocessor(preset_for("official", "", "", (64, 64)))
    ds = open_dataset(str(ASSETS))
    dev = OrtDevicePredictor(tiny, 1)
    seen = []
    upload = dev._upload
    dev._upload = lambda b: (seen.append(np.asarray(b).dtype), upload(b))[1]

    def records(pred, name):
        res = evaluate(pred, ds.samples, pre, ds.class_names, tmp_path / name, batch_size=4,
                       vastai_txt=False)
        return sorted((r["id"], r["top5"], r["prob5"]) for r in read_results(res.results_jsonl))

    got, want = records(dev, "device"), records(OrtPredictor(tiny, 1), "cpu")
    assert set(seen) == {np.dtype(np.uint8)}
    assert [(i, t) for i, t, _ in got] == [(i, t) for i, t, _ in want]
    np.testing.assert_allclose([p for *_, p in got], [p for *_, p in want], atol=1e-6)


def test_gpu_backends_open_the_device_runner(tmp_path, monkeypatch):
    from workbench.backends import ort_gpu

    seen = {}

    class Capture:
        def __init__(self, path, threads, providers):
            seen.update(providers=providers)

    monkeypatch.setattr(ort_gpu, "OrtDevicePredictor", Capture)
    ort_gpu.BACKEND.open(tmp_path / "model.onnx")
    assert seen["providers"] == ["CUDAExecutionProvider"]
