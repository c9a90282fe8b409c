"""The sources contract the pipeline relies on: ModelSpec → LoadedModel, deterministic
random init, local checkpoints, HF-cache-only hub weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.errors import BadInput
from workbench.events import LogLine, Reporter
from workbench.sources import ModelSpec, load_model, resolve_variant
from workbench.sources.checkpoint import save_state_dict, state_dict_sha256

pytestmark = pytest.mark.usefixtures("torch_one_thread")



def _logs(events):
    return [e.message for e in events if isinstance(e, LogLine)]


def test_resolve_variant_spellings():
    assert resolve_variant("w18") == "hrnet_w18"
    assert resolve_variant("HRNet-W18-C") == "hrnet_w18"
    assert resolve_variant("small_v1") == "hrnet_w18_small"
    assert resolve_variant("HRNet-W18-C-Small-v2") == "hrnet_w18_small_v2"
    assert resolve_variant("hrnet_w48_ssld") == "hrnet_w48_ssld"
    with pytest.raises(BadInput, match="unknown variant 'w19'"):
        resolve_variant("w19")


def test_random_init_is_deterministic_and_loud():
    events: list = []
    a = load_model(ModelSpec("timm", "hrnet_w18_small", "random-init"), Reporter(events.append))
    b = load_model(ModelSpec("timm", "small_v1", "random-init"))
    assert a.variant == b.variant == "hrnet_w18_small"
    assert a.weights == "random-init"
    assert a.weights_id == "random-init:hrnet_w18_small:seed0"
    assert a.pretrained_tag == "gluon_in1k" and a.preprocess == "timm:gluon_in1k"
    assert not a.model.training
    assert state_dict_sha256(a.model.state_dict()) == state_dict_sha256(b.model.state_dict())
    assert any("RANDOM-INIT" in m for m in _logs(events))
    # timm's model, not a look-alike
    from timm.models.hrnet import HighResolutionNet

    assert isinstance(a.model, HighResolutionNet)


def test_local_checkpoint_loads_bit_for_bit(tmp_path):
    src = load_model(ModelSpec("timm", "hrnet_w18_small", "random-init")).model
    with torch.no_grad():  # make the weights differ from the seeded init
        for p in src.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = save_state_dict(src.state_dict(), tmp_path / "mine.pth")
    events: list = []
    lm = load_model(ModelSpec("timm", "w18_small", str(path)), Reporter(events.append))
    assert lm.weights == str(path.resolve())
    assert lm.weights_id == state_dict_sha256(src.state_dict())
    assert lm.layout == "canonical"
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(lm.model(x), src.eval()(x))
    logs = _logs(events)
    assert any(str(path.resolve()) in m and "canonical layout" in m for m in logs)
    assert any("hrnet_w18_small" in m for m in logs)


def _write_hf_cache(root, repo: str, tensors: dict) -> None:
    folder = root / ("models--" + repo.replace("/", "--"))
    snap = folder / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text("a" * 40)
    save_state_dict(tensors, snap / "model.safetensors")


def test_hub_weights_come_only_from_the_local_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BadInput, match=r"timm/hrnet_w18_small\.ms_in1k is not in the local HF cache"):
        load_model(ModelSpec("timm", "hrnet_w18_small", "hub:ms_in1k"))
    with pytest.raises(BadInput, match="no such pretrained tag"):
        load_model(ModelSpec("timm", "hrnet_w18_small", "hub:imagenet22k"))
    ref = load_model(ModelSpec("timm", "hrnet_w18_small", "random-init")).model
    _write_hf_cache(tmp_path / "hub", "timm/hrnet_w18_small.ms_in1k", ref.state_dict())
    lm = load_model(ModelSpec("timm", "hrnet_w18_small", "hub:ms_in1k"))
    assert lm.weights == "hf-hub:timm/hrnet_w18_small.ms_in1k"
    assert lm.pretrained_tag == "ms_in1k" and lm.preprocess == "timm:ms_in1k"
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype("float32")
    with torch.no_grad():
        assert torch.equal(lm.model(torch.from_numpy(x)), ref(torch.from_numpy(x)))
    # the default tag of hrnet_w18_small is gluon_in1k, which is not cached
    with pytest.raises(BadInput, match="gluon_in1k"):
        load_model(ModelSpec("timm", "hrnet_w18_small", "hub"))
