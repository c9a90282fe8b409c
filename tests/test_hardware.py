"""CPU detection, fingerprints, build targets and the precision each runtime reports.

Capability-dependent paths run on every machine: ``fake_cpu`` (conftest) replaces the two
capability queries, so AVX2-only and bf16/VNNI branches are both exercised here.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import AVX2_ONLY, AVX512_BF16

from workbench import hardware
from workbench.errors import BadInput


def test_this_cpu_is_detected_and_fingerprinted():
    cpu = hardware.detect_cpu()
    assert cpu.vendor and cpu.model and cpu.logical_cpus >= 1 and cpu.physical_cores >= 1
    assert set(cpu.flags) <= set(hardware.ISA_FLAGS)
    assert cpu.fingerprint.startswith(cpu.kind + "-") and cpu.fingerprint == hardware.fingerprint()
    # the library and the kernel agree on the flags that decide our recipes
    try:
        text = open("/proc/cpuinfo").read().split()
    except OSError:
        pytest.skip("no /proc/cpuinfo to cross-check")
    for flag in ("avx2", "avx512_vnni", "avx512_bf16", "amx_int8"):
        assert (flag in cpu.flags) == (flag in text), flag


def test_fingerprint_is_stable_and_follows_the_isa(fake_cpu):
    a = fake_cpu(AVX2_ONLY)
    again = fake_cpu(AVX2_ONLY)
    assert a.fingerprint == again.fingerprint and a.kind == "avx2"
    b = fake_cpu(AVX512_BF16)
    assert b.fingerprint != a.fingerprint and b.kind == "bf16" and b.vnni and b.bf16
    amx = fake_cpu(AVX512_BF16 + ("amx_tile", "amx_int8", "amx_bf16"))
    assert amx.kind == "amx"
    # py-cpuinfo also spells some flags without the underscore
    c = fake_cpu(("avx2", "avx512f", "avx512vnni"))
    assert c.vnni and c.kind == "vnni"


def test_reduce_range_only_without_vnni(fake_cpu):
    from workbench.build import BuildRecipe, CalibrationSpec

    fake_cpu(AVX2_ONLY)
    r = BuildRecipe("ort-cpu", "int8", CalibrationSpec())
    assert r.target == "avx2" and r.reduce_range is True and r.variant == "novnni"
    fake_cpu(AVX512_BF16)
    v = BuildRecipe("ort-cpu", "int8", CalibrationSpec())
    assert v.target == "bf16" and v.reduce_range is False and v.variant == "vnni"
    # forcing a target wins over the machine; the key follows the variant, not the name
    forced = BuildRecipe("ort-cpu", "int8", CalibrationSpec(), target="avx512")
    assert forced.reduce_range is True and forced.as_dict() == r.as_dict()
    assert BuildRecipe("openvino-cpu", "int8", CalibrationSpec(), target="amx").as_dict()[
        "reduce_range"] is False
    assert BuildRecipe("tensorrt", "int8", CalibrationSpec()).reduce_range is None  # symmetric
    assert BuildRecipe("ort-cpu", "fp32").variant == ""
    with pytest.raises(BadInput, match="--target"):
        BuildRecipe("ort-cpu", "int8", CalibrationSpec(), target="sse2")


def test_bf16_support_needs_the_cpu_and_openvino(fake_cpu):
    fake_cpu(AVX2_ONLY)
    ok, why = hardware.bf16_support()
    assert not ok and "AVX512-BF16" in why
    fake_cpu(AVX512_BF16, ov_caps=("FP32", "BF16", "INT8"))
    assert hardware.bf16_support()[0]
    fake_cpu(AVX512_BF16, ov_caps=("FP32", "INT8"))
    ok, why = hardware.bf16_support()
    assert not ok and "OPTIMIZATION_CAPABILITIES" in why
    from workbench.bench.limits import supported_precisions

    assert supported_precisions() == ["fp32", "int8"]
    fake_cpu(AVX512_BF16, ov_caps=("FP32", "BF16"))
    assert supported_precisions() == ["fp32", "bf16", "int8"]


def test_side_by_side_skips_bf16_where_unsupported(fake_cpu):
    from workbench.bench.compare import skipped_targets

    fake_cpu(AVX2_ONLY)
    assert "AVX512-BF16" in skipped_targets(["ort-fp32", "openvino-bf16"])["openvino-bf16"]
    fake_cpu(AVX512_BF16, ov_caps=("FP32", "BF16"))
    assert skipped_targets(["ort-fp32", "openvino-bf16"]) == {}


# -- what the runtimes report they ran --------------------------------------------------------


@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory):
    """hrnet_w18_small (random-init) at 64×64, exported once for this module."""
    import torch

    from workbench.export import export_onnx
    from workbench.sources import ModelSpec, load_model

    torch.set_num_threads(1)
    lm = load_model(ModelSpec(source="timm", variant="hrnet_w18_small"))
    path = tmp_path_factory.mktemp("w18s") / "w18s.onnx"
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    export_onnx(lm.model, path, (64, 64), parity_inputs=x, tolerance=1e30)
    return path, x


def _ort_and_ov(path, x, precision=None):
    from workbench.backends.openvino_cpu import OpenVinoPredictor
    from workbench.backends.ort_cpu.predictor import OrtPredictor

    ort = OrtPredictor(path, 1)
    ov = OpenVinoPredictor(path, 1, precision=precision)
    return ort.predict(x), ov.predict(x), ort, ov


def test_openvino_fp32_is_fp32_and_matches_ort(small_onnx):
    """The default precision comes from the artifact (fp32 → f32), read back from the
    compiled model; with it OpenVINO matches ORT on hrnet_w18_small to float32 rounding."""
    path, x = small_onnx
    ref, got, ort, ov = _ort_and_ov(path, x)
    s = ov.runtime_settings()
    assert s.inference_precision == "f32" and s.compute_precision == "f32"
    assert set(s.details["layer_precisions"]) == {"f32"}
    assert ort.runtime_settings().compute_precision == "f32"
    scale = max(1.0, float(np.abs(ref).max()))
    tol = 1e-4 * scale  # random-init logits are large: relative to their scale
    print(f"\nOpenVINO f32 vs ORT fp32: max abs {np.abs(got - ref).max():.3g} (scale {scale:.3g})")
    assert float(np.abs(got - ref).max()) <= tol


def test_bf16_runs_as_bf16_where_supported(small_onnx):
    ok, why = hardware.bf16_support()
    if not ok:
        pytest.skip(f"bf16 unavailable here: {why}")
    path, x = small_onnx
    ref, got, _ort, ov = _ort_and_ov(path, x, precision="bf16")
    s = ov.runtime_settings()
    assert s.inference_precision == "bf16" and s.compute_precision == "bf16"
    assert s.limit_precision == "bf16"
    # tolerance from the precision read back: bf16 keeps 8 bits of mantissa
    rel = float(np.abs(got - ref).max() / np.abs(ref).max())
    print(f"\nOpenVINO bf16 vs ORT fp32: max rel {rel:.3g}")
    assert 0 < rel < 0.1
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.5
