"""The bench's GPU paths without a GPU: a predictor that says it runs on a GPU (a fake
device: the real CPU model behind the device-aware interface), the GPU limits' cache and
the roofline they give, and TensorRT's engine cache options."""

from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.bench.grid import BenchConfig, benchmark
from workbench.bench.limits import PrecisionLimit

GPU = {"name": "Fake H200", "sm_count": 132, "memory_mib": 143771, "capability": "9.0",
       "driver": "580.159", "cuda": "13.0", "torch": "2.11.0", "fingerprint": "gpu-fake000001"}


class FakeGpuPredictor:
    """A tiny numpy classifier behind the device-aware predictor interface, reporting a GPU."""

    backend = "torch-cuda"
    on_gpu = True
    cpu_threads = 0

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.timed = 0
        self.peak = 0.0
        self.w = np.random.default_rng(0).standard_normal((3 * 32 * 32, 10)).astype(np.float32)

    def to_device(self, x):
        return np.ascontiguousarray(x)  # "on the device": converted once per round

    def run(self, x):
        self.peak = max(self.peak, x.nbytes / 2**20)
        return x.reshape(len(x), -1) @ self.w

    def predict(self, x):
        return self.run(x)

    def time_run(self, x):
        self.timed += 1
        self.run(x)
        return 1.0 + 0.01 * len(x)  # what CUDA events would say

    def reset_device_peak(self):
        self.peak = 0.0

    def device_peak_mb(self):
        return self.peak

    def runtime_settings(self):
        from workbench.runtime_settings import RuntimeSettings

        return RuntimeSettings("torch", "2.11.0", "f16", "f16", None, 1, "graphs",
                               {"device": "cuda:0", "gpu": GPU, "mode": "graphs"})


def test_gpu_target_times_itself_reports_device_memory_and_drops_the_threads_axis():
    made: list[FakeGpuPredictor] = []

    def factory(threads):
        made.append(FakeGpuPredictor(threads))
        return made[-1]

    cfg = BenchConfig(batch_sizes=[1, 8], threads=[1, 2], warmup=1, iterations=4, rounds=2)
    res = benchmark(factory, (32, 32), cfg, label="gpu")
    assert sorted((r.batch, r.threads) for r in res.rows) == [(1, 1), (8, 1)]  # no threads axis
    assert all(p.threads == 1 for p in made)
    r8 = res.row(8)
    assert r8.p50_ms == pytest.approx(1.08) and r8.device_peak_mb == pytest.approx(8 * 3 * 32 * 32 * 4 / 2**20)
    assert res.fingerprint.endswith("+gpu-fake000001")
    assert r8.precision == "f16" and r8.limit_precision == "fp16"
    assert sum(p.timed for p in made) >= 8  # timed by the predictor, not the wall clock


def test_gpu_limits_are_cached_per_gpu_fingerprint_and_put_a_row_on_its_precision(tmp_path, monkeypatch):
    from workbench.backends.torch_cuda import device
    from workbench.bench import gpu_limits

    calls = []

    def fake_probe(prec, dev="cuda", **_):
        calls.append(prec)
        return PrecisionLimit(prec, {"fp16": 800_000.0}.get(prec, 100_000.0), 1.0, 0, 8192,
                              "fake matmul", prec, GPU["fingerprint"], 0, 0, 0.01, True, 0.0)

    monkeypatch.setattr(gpu_limits, "probe_gpu", fake_probe)
    monkeypatch.setattr(gpu_limits, "probe_copy", lambda dev="cuda", **_: fake_probe("copy"))
    monkeypatch.setattr(device, "gpu_info", lambda d="cuda": GPU)
    first = gpu_limits.gpu_limits(tmp_path, "cuda:0")
    assert set(first) == {"fp32", "tf32", "fp16", "bf16", "copy"} and len(calls) == 5
    again = gpu_limits.gpu_limits(tmp_path, "cuda:0")
    assert len(calls) == 5 and again["fp16"].cached and again["fp16"].gops == 800_000.0
    saved = json.loads((tmp_path / gpu_limits.GPU_LIMITS_FILE).read_text())
    assert saved["key"].startswith(GPU["fingerprint"])

    res = benchmark(FakeGpuPredictor, (32, 32), BenchConfig(batch_sizes=[8], threads=[1],
                                                            warmup=1, iterations=2, rounds=1))
    assert gpu_limits.apply_gpu_limits(res, 4.0, tmp_path)
    row = res.rows[0]
    assert row.limit_precision == "fp16"
    assert row.vs_roofline == pytest.approx(2 * 4.0 * row.throughput / 800_000.0)


def test_tensorrt_keeps_its_engines_beside_the_artifact(tmp_path, monkeypatch):
    from workbench.backends import tensorrt

    seen = {}

    class Capture:
        def __init__(self, path, threads, providers, provider_options):
            seen.update(providers=providers, opts=provider_options[0])

    monkeypatch.setattr(tensorrt, "OrtDevicePredictor", Capture)
    (tmp_path / "meta.json").write_text(json.dumps({"provider_options": {"trt_fp16_enable": True}}))
    tensorrt.BACKEND.open(tmp_path / "model.onnx")
    opts = seen["opts"]
    assert opts["trt_engine_cache_enable"] == "True" and opts["trt_fp16_enable"] == "True"
    assert opts["trt_engine_cache_path"] == str(tmp_path / "trt_cache")
    assert (tmp_path / "trt_cache").is_dir()
