"""Shared fixtures. Each area keeps its own heavier fixtures in its own test modules."""

from __future__ import annotations

import os

import pytest

# Two cores in CI: keep torch from oversubscribing when tests run alongside each other.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An isolated workbench home: store, artifacts and runs live under tmp_path."""
    from workbench.home import resolve_home

    root = tmp_path / "home"
    monkeypatch.setenv("HRNET_WB_HOME", str(root))
    return resolve_home(root)


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny inputs: one torch thread is as fast alone and much faster on a busy 2-core box."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


AVX2_ONLY = ("avx", "avx2", "fma", "sse4_2")
AVX512_BF16 = AVX2_ONLY + ("avx512f", "avx512_vnni", "avx512_bf16")


@pytest.fixture
def fake_cpu(monkeypatch):
    """Pretend to be another CPU: ``fake_cpu(flags, ov_caps)`` replaces the two capability
    queries of workbench.hardware (py-cpuinfo's record and OpenVINO's
    OPTIMIZATION_CAPABILITIES), so both sides of every capability branch run anywhere."""
    from workbench import hardware

    def use(flags=AVX2_ONLY, ov_caps=("FP32", "INT8", "BIN", "EXPORT_IMPORT"), model="Fake CPU"):
        raw = {"vendor_id_raw": "FakeVendor", "brand_raw": model, "family": 25, "model": 1,
               "stepping": 1, "arch": "X86_64", "flags": list(flags), "detected_by": "test"}
        monkeypatch.setattr(hardware, "_raw_cpu_info", lambda: raw)
        monkeypatch.setattr(hardware, "_openvino_capabilities", lambda: tuple(ov_caps))
        hardware.reset_detection()
        return hardware.detect_cpu()

    yield use
    hardware.reset_detection()
