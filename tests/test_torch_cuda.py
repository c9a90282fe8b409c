"""The torch-cuda backend on ``device="cpu"``: fold, build, open, top-5 against the eager
model, uint8 inputs, top-k on the device, eval and bench on the bundled images, and the
out-of-device-memory path with an injected failure. CUDA-only parts skip with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from workbench.backends.base import DeviceOutOfMemory
from workbench.backends.torch_cuda import open_model, open_torch_cuda
from workbench.backends.torch_cuda.device import cuda_reason
from workbench.errors import BadInput

ASSETS = Path(__file__).resolve().parents[1] / "assets"
SIZE = (64, 64)
NO_CUDA = cuda_reason()


@pytest.fixture(scope="module")
def model(torch_one_thread):
    """hrnet_w18_small with BatchNorm statistics far from identity, so a wrong fold shows."""
    import torch

    from workbench.sources import ModelSpec, load_model

    m = load_model(ModelSpec(source="timm", variant="hrnet_w18_small")).model.eval()
    g = torch.Generator().manual_seed(0)
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            mod.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            mod.bias.data.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
    return m


@pytest.fixture(scope="module")
def images():
    """The bundled JPEGs, preprocessed the official way at 64x64 (float32 NCHW)."""
    from workbench.data.preprocess import Preprocessor, preset_for

    pre = Preprocessor(preset_for("official", "hrnet_w18_small", "", SIZE))
    paths = sorted((ASSETS / "val").glob("*.JPEG"))
    return np.stack([pre.load(p) for p in paths]).astype(np.float32)


def _eager_logits(model, x):
    import torch

    with torch.inference_mode():
        return model(torch.from_numpy(x)).numpy()


def _top5(logits):
    return np.argsort(-logits, axis=1, kind="stable")[:, :5]


def test_fp32_folded_channels_last_top5_equals_the_eager_model(model, images):
    pred = open_model(model, "fp32", device="cpu", mode="eager")
    assert pred.folded_bn == 91  # every BatchNorm of hrnet_w18_small
    got = pred.predict(images)
    want = _eager_logits(model, images)
    np.testing.assert_allclose(got, want, atol=1e-3 * np.abs(want).max())
    assert (_top5(got) == _top5(want)).all()
    ids, probs = pred.predict_topk(images, 5)  # taken where it runs: only k ids come back
    assert ids.shape == (len(images), 5) and (ids == _top5(want)).all()
    assert np.all(np.diff(probs, axis=1) <= 0) and probs.max() <= 1.0


def test_uint8_batches_are_normalised_where_inference_runs(model, images):
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    rng = np.random.default_rng(0)
    u8 = rng.integers(0, 256, size=(2, 3, *SIZE), dtype=np.uint8)
    ref = ((u8.astype(np.float32) / 255 - np.array(mean, np.float32)[:, None, None])
           / np.array(std, np.float32)[:, None, None]).astype(np.float32)
    pred = open_model(model, "fp32", device="cpu", mean=mean, std=std)
    # gathered from the CPU path's own table: the very float32 values, so the very logits
    assert np.array_equal(pred.to_device(u8).numpy(), ref)
    assert np.array_equal(pred.predict(u8), pred.predict(ref))
    with pytest.raises(ValueError, match="mean/std"):
        open_model(model, "fp32", device="cpu").predict(u8)


def test_bf16_on_the_cpu_runs_and_says_so(model, images):
    pred = open_model(model, "bf16", device="cpu")
    rt = pred.runtime_settings()
    assert rt.compute_precision == "bf16" and rt.limit_precision == "bf16"
    agree = (_top5(pred.predict(images))[:, 0] == _top5(_eager_logits(model, images))[:, 0]).mean()
    assert agree >= 0.5  # random weights: near-ties move under bf16, most do not


def test_cuda_only_modes_step_aside_on_the_cpu_with_the_reason(model):
    pred = open_model(model, "fp32", device="cpu", mode="graphs")
    rt = pred.runtime_settings()
    assert pred.mode == "eager" and rt.details["mode_asked"] == "graphs"
    assert "CUDA graphs need a GPU" in rt.details["mode_note"]
    auto = open_model(model, "fp32", device="cpu", mode="auto")
    assert auto.mode == "eager" and auto.device_peak_mb() is None
    if NO_CUDA:
        with pytest.raises(BadInput, match="use --device cpu"):
            open_model(model, "fp16", device="cuda")


def test_build_records_recipe_and_weights_hash_and_reopens_equal(model, images, home):
    from test_data_fixtures import make_tiny_onnx

    from workbench.build import BuildRecipe, build_artifact

    onnx = make_tiny_onnx(home.cache / "m.onnx")  # keyed by; torch-cuda builds from the model
    recipe = BuildRecipe("torch-cuda", "bf16")  # no CPU-ISA bf16 check for a torch build
    with pytest.raises(BadInput, match="builds from the loaded model"):
        build_artifact(onnx, recipe, model_name="hrnet_w18_small", input_size=SIZE,
                       weights_id="test", home=home)
    art = build_artifact(onnx, BuildRecipe("torch-cuda", "fp32"), model_name="hrnet_w18_small",
                         input_size=SIZE, weights_id="test", home=home, model=model)
    tc = art.meta["torch_cuda"]
    assert tc["arch"] == "hrnet_w18_small" and tc["fold_bn"] and tc["channels_last"]
    assert len(art.meta["weights_sha256"]) == 64 and art.path.suffix == ".safetensors"
    pred = open_torch_cuda(art.path, device="cpu", mode="eager")
    assert (_top5(pred.predict(images)) == _top5(_eager_logits(model, images))).all()
    assert pred.runtime_settings().details["recipe"]["weights_sha256"] == art.meta["weights_sha256"]
    bad = home.cache / "plain.safetensors"
    from safetensors.torch import save_file

    save_file({"w": model.classifier.weight.detach().contiguous()}, str(bad))
    with pytest.raises(BadInput, match="not a torch-cuda artifact"):
        open_torch_cuda(bad, device="cpu")


def test_the_evaluator_sends_uint8_and_every_record_equals_the_float_path(model, tmp_path):
    """On the bundled images: the evaluator hands a predictor that normalises where it runs
    uint8 pixels, and its records (top-5 and probabilities) equal the float32 path's."""
    from workbench.data import open_dataset
    from workbench.data.preprocess import Preprocessor, preset_for
    from workbench.evaluate import evaluate
    from workbench.evaluate.formats import read_results

    pre = Preprocessor(preset_for("official", "hrnet_w18_small", "", SIZE))
    ds = open_dataset(str(ASSETS))
    sent = {}

    def records(normalizes):
        pred = open_model(model, "fp32", device="cpu", mode="eager", threads=1)
        pred.normalizes_uint8 = normalizes  # False: float32, normalised on the host as before
        inner = pred.predict_topk

        def spy(x, k=5):
            sent.setdefault(normalizes, set()).add(np.asarray(x).dtype)
            return inner(x, k)

        pred.predict_topk = spy
        res = evaluate(pred, ds.samples, pre, ds.class_names, tmp_path / str(normalizes),
                       batch_size=4, vastai_txt=False)
        return sorted((r["id"], r["top5"], r["prob5"]) for r in read_results(res.results_jsonl))

    u8, f32 = records(True), records(False)
    assert sent == {True: {np.dtype(np.uint8)}, False: {np.dtype(np.float32)}}
    assert len(u8) == 13 and u8 == f32


class _OomAbove:
    """A model that runs until a batch is larger than ``limit``, then fails the way CUDA
    does (torch.cuda.OutOfMemoryError), so the OOM path runs without a GPU."""

    def __init__(self, model, limit):
        self.model, self.limit = model, limit

    def __call__(self, x):
        import torch

        if x.shape[0] > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.model(x)

    def parameters(self):
        return self.model.parameters()


def test_out_of_device_memory_is_one_line_and_the_grid_goes_on(model):
    from workbench.bench.grid import BenchConfig, benchmark

    def factory(threads):
        pred = open_model(model, "fp32", device="cpu", mode="eager", threads=threads)
        pred.model = _OomAbove(pred.model, 2)
        return pred

    with pytest.raises(DeviceOutOfMemory, match="out of device memory at batch 4"):
        factory(1).predict(np.zeros((4, 3, *SIZE), np.float32))
    res = benchmark(factory, SIZE, BenchConfig(batch_sizes=[1, 4, 2], threads=[1], warmup=1,
                                               iterations=2, rounds=2))
    assert [r.batch for r in res.rows] == [1, 2]
    assert len(res.skipped) == 1 and res.skipped[0].startswith("bs4 ×1: out of device memory at batch 4")
    assert res.rows[0].runtime["details"]["device"] == "cpu" and res.rows[0].device_peak_mb is None


def test_eval_and_bench_cli_on_the_bundled_images(model, home, monkeypatch, tmp_path):
    from test_bench import fake_probe

    from workbench.bench import limits
    from workbench.cli import _load_commands
    from workbench.cli.app import app

    monkeypatch.setattr(limits, "probe_gemm", fake_probe({"fp32": 100.0, "bf16": 300.0,
                                                          "int8": 400.0}))
    _load_commands()
    cli = CliRunner()
    out = cli.invoke(app, ["build", "--backend", "torch-cuda", "--dtype", "fp32", "--variant",
                           "hrnet_w18_small", "--input-size", "64", "--json"])
    assert out.exit_code == 0, out.output
    art = json.loads(out.stdout)
    out = cli.invoke(app, ["eval", art["name"], "--data", str(ASSETS), "--batch-size", "8",
                           "--threads", "1", "--json"])
    assert out.exit_code == 0, out.output
    rec = json.loads(out.stdout)
    assert rec["backend"] == "torch-cuda" and rec["dataset"]["images"] == 13
    assert rec["runtime"]["details"]["folded_bn"] == 91
    bare = tmp_path / "bare.safetensors"  # a built file outside its artifact folder
    bare.write_bytes(Path(art["path"]).read_bytes())
    out = cli.invoke(app, ["eval", str(bare), "--data", str(ASSETS), "--limit", "2", "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout)["backend"] == "torch-cuda", out.output
    out = cli.invoke(app, ["bench", art["name"], "--batch", "1,2", "--threads", "1",
                           "--iterations", "2", "--rounds", "1", "--warmup", "1", "--no-baseline",
                           "--json"])
    assert out.exit_code == 0, out.output
    b = json.loads(out.stdout)
    rows = b["results"][-1]["rows"]
    assert [r["batch"] for r in rows] == [1, 2] and rows[0]["runtime"]["details"]["mode"] == "eager"
    assert rows[0]["limit_precision"] == "fp32" and rows[0]["vs_roofline"] > 0


@pytest.mark.skipif(bool(NO_CUDA), reason=f"needs CUDA: {NO_CUDA}")
def test_cuda_graphs_and_fp16_agree_with_eager_on_the_gpu(model, images):  # pragma: no cover
    eager = open_model(model, "fp32", device="cuda", mode="eager").predict(images)
    graphs = open_model(model, "fp32", device="cuda", mode="graphs")
    assert graphs.mode == "graphs"
    assert (_top5(graphs.predict(images)) == _top5(eager)).all()
    half = open_model(model, "fp16", device="cuda", mode="graphs")
    assert (_top5(half.predict(images))[:, 0] == _top5(eager)[:, 0]).mean() >= 0.9
    assert half.device_peak_mb() is not None
