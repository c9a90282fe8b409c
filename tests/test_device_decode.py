"""Decoding on the device: the ``+nvjpeg`` preset, its distance from the exact CPU path,
and the per-file CPU fallback for a JPEG the device decoder refuses (CMYK), proven here
without a GPU by running torchvision's decoder on the CPU and refusing CMYK the way
nvJPEG does; on a GPU the real nvJPEG refusal is checked too.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workbench.backends.torch_cuda.device import cuda_reason
from workbench.data.device_decode import DeviceDecoder, compare_with_cpu, torchvision_decode
from workbench.data.preprocess import Preprocessor, preset_for

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "val"
NO_CUDA = cuda_reason()


@pytest.fixture(scope="module")
def pre():
    return Preprocessor(preset_for("official", "hrnet_w18_small", "", (64, 64)))


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    cmyk = tmp_path / "cmyk.jpg"
    Image.fromarray(rng.integers(0, 255, (90, 120, 4), dtype=np.uint8), "CMYK").save(cmyk)
    return sorted(ASSETS.glob("*.JPEG"))[:4] + [cmyk]


def refuses_cmyk(datas, device):
    """torchvision's decoder, except that a CMYK JPEG fails as it does under nvJPEG."""
    for d in datas:
        if Image.open(io.BytesIO(d.numpy().tobytes())).mode == "CMYK":
            raise RuntimeError("nvjpegDecode failed: unsupported colour space (CMYK)")
    return torchvision_decode(datas, device)


def test_a_refused_file_falls_back_to_the_exact_cpu_path_and_is_counted(pre, files):
    dec = DeviceDecoder(pre, device="cpu", decode=refuses_cmyk)
    assert dec.name == "official+nvjpeg" and dec.describe()["exact"] is False
    batch, hashes = dec.load_batch(files)
    assert tuple(batch.shape) == (5, 3, 64, 64) and len(set(hashes)) == 5
    assert batch.dtype.is_floating_point is False  # pixels: the predictor normalises them
    assert dec.fallbacks == [(str(files[-1]), "the device decoder refused it")]
    assert dec.decoded_on_device == 4
    assert (batch[-1].numpy() == pre.load_uint8(files[-1]).transpose(2, 0, 1)).all()  # exact path


def test_device_resize_is_close_to_pillow_but_named_apart(pre, files):
    from workbench.backends.torch_cuda import open_model
    from workbench.sources import ModelSpec, load_model

    dec = DeviceDecoder(pre, device="cpu")
    model = load_model(ModelSpec(source="timm", variant="hrnet_w18_small")).model
    pred = open_model(model, "fp32", device="cpu", mean=pre.cfg.mean, std=pre.cfg.std)
    cmp = compare_with_cpu(dec, files[:4], pred)
    assert cmp["images"] == 4 and cmp["fallbacks"] == 0
    assert 0 < cmp["max_abs_pixel_diff"] < 64  # not bit-exact (why it is its own preset)
    assert 0 < cmp["mean_abs_pixel_diff"] < 8
    assert 0 <= cmp["top1_agreement"] <= 1


def test_eval_with_the_device_preset_runs_on_the_predictors_device(pre, tmp_path, home):
    """``--preprocess official+nvjpeg``: decoded where the torch-cuda predictor runs (the CPU
    here), a broken file skipped, only top-k back; another backend is refused in one line."""
    import shutil

    from test_data_fixtures import make_tiny_onnx

    from workbench.build import BuildRecipe, build_artifact
    from workbench.errors import BadInput
    from workbench.evaluate import run_eval
    from workbench.sources import ModelSpec, load_model

    data = tmp_path / "d" / "val"
    data.mkdir(parents=True)
    for p in sorted(ASSETS.glob("*.JPEG"))[:5]:
        shutil.copy(p, data / p.name)
    (data / "ILSVRC2012_val_00000099.JPEG").write_bytes(b"\xff\xd8 not a jpeg")
    onnx = make_tiny_onnx(tmp_path / "m.onnx")
    model = load_model(ModelSpec(source="timm", variant="hrnet_w18_small")).model
    art = build_artifact(onnx, BuildRecipe("torch-cuda", "fp32"), model_name="hrnet_w18_small",
                         input_size=(64, 64), weights_id="t", home=home, model=model)
    rec = run_eval(str(art.path), str(tmp_path / "d"), home=home, backend="torch-cuda",
                   preprocess="official+nvjpeg", batch_size=4, threads=1)
    assert rec["preprocess"]["name"] == "official+nvjpeg" and rec["decode"]["schedule"] == "device decode"
    assert rec["n"] == 5 and rec["skipped"] == 1 and rec["decode"]["fallbacks"] == 0
    vs = rec["decode"]["vs_exact_cpu_path"]  # measured on the first batch, kept with the eval
    assert vs["images"] == 4 and 0 < vs["max_abs_pixel_diff"] < 64 and 0 <= vs["top1_agreement"] <= 1
    report = json.loads((Path(rec["out_dir"]) / "eval_report.json").read_text())
    assert report["decode"]["vs_exact_cpu_path"] == vs
    from workbench.store import Store

    stored = {m["name"]: m["value"] for m in Store(home.db).metrics(rec["run_id"])}
    assert stored["decode_top1_agreement"] == vs["top1_agreement"]
    assert stored["decode_max_pixel_diff"] == vs["max_abs_pixel_diff"]
    with pytest.raises(BadInput, match="torch-cuda predictor"):
        run_eval(str(onnx), str(tmp_path / "d"), home=home, preprocess="official+nvjpeg",
                 input_size=(64, 64))


@pytest.mark.skipif(bool(NO_CUDA), reason=f"needs CUDA for nvJPEG: {NO_CUDA}")
def test_nvjpeg_refuses_cmyk_and_the_cpu_takes_it(pre, files):  # pragma: no cover
    dec = DeviceDecoder(pre, device="cuda")
    batch, _ = dec.load_batch(files)
    assert batch.device.type == "cuda" and len(dec.fallbacks) <= 1
    x, _h, done = dec.load_ahead(files)  # decoded on a side stream, waited for by this one
    assert done is not None and (dec.ready(x, done) == batch).all()
