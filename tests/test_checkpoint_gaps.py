"""The checkpoints people actually have: official export format, mmengine Runner
checkpoints, mmcls 0.x EMA keys, and a --config/weights mismatch hint that works."""

from __future__ import annotations

import os
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from test_sources_official import W18_YAML
from typer.testing import CliRunner

from workbench.cli import _load_commands
from workbench.cli.app import app
from workbench.errors import BadInput
from workbench.sources import ModelSpec, load_model
from workbench.sources.checkpoint import read_checkpoint, state_dict_sha256
from workbench.sources.mmcls import canonical_to_mmcls
from workbench.sources.timm_source import build_model, randomized_model

pytestmark = pytest.mark.usefixtures("torch_one_thread")
_load_commands()


@pytest.fixture(scope="module")
def small():
    return randomized_model("hrnet_w18_small", seed=0, calib_size=64)


@pytest.fixture(scope="module")
def small_b():
    return randomized_model("hrnet_w18_small", seed=1, calib_size=64)


def x64() -> torch.Tensor:
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


# -- export --to official: what the official tools load ------------------------------------


def official_net() -> torch.nn.Module:
    """Stands in for ``cls_hrnet.get_cls_net(config)``: the same keys (FACTS §1)."""
    import timm

    return timm.create_model("hrnet_w18_small", pretrained=False).eval()


def test_export_official_is_what_valid_py_loads(tmp_path, small):
    out = tmp_path / "w18s.pth"
    r = CliRunner().invoke(app, ["export", "--variant", "small_v1", "--weights", _save(tmp_path, small),
                                 "--to", "official", "--input-size", "64", "--out", str(out)])
    assert r.exit_code == 0, r.output
    # tools/valid.py --testModel: model.load_state_dict(torch.load(config.TEST.MODEL_FILE))
    model = official_net()
    model.load_state_dict(torch.load(out))
    with torch.no_grad():
        assert torch.allclose(model(x64()), small(x64()), atol=1e-5)
    # lib/models/cls_hrnet.py init_weights(pretrained): every key of the file is one of the model's
    pretrained_dict = torch.load(out)
    model_dict = official_net().state_dict()
    kept = {k: v for k, v in pretrained_dict.items() if k in model_dict}
    assert len(kept) == len(pretrained_dict) == len(model_dict)


def test_export_official_wrapped_is_what_checkpoint_loading_reads(tmp_path, small):
    out = tmp_path / "checkpoint.pth.tar"
    r = CliRunner().invoke(app, ["export", "--variant", "small_v1", "--weights", _save(tmp_path, small),
                                 "--to", "official", "--wrap-state-dict", "--input-size", "64",
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    # tools/train.py resume: checkpoint = torch.load(f); model.load_state_dict(checkpoint['state_dict'])
    checkpoint = torch.load(out)
    model = official_net()
    model.load_state_dict(checkpoint["state_dict"])
    with torch.no_grad():
        assert torch.allclose(model(x64()), small(x64()), atol=1e-5)
    # ...and the wrapped file is exactly what valid.py cannot load (the gap this flag keeps optional)
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "state_dict"'):
        official_net().load_state_dict(torch.load(out))


def _save(tmp_path: Path, model: torch.nn.Module) -> str:
    p = tmp_path / "src.safetensors"
    if not p.exists():
        from workbench.sources.checkpoint import save_state_dict

        save_state_dict(model.state_dict(), p)
    return str(p)


# -- mmengine Runner checkpoints: inert placeholders, nothing runs ---------------------------


def fake_mmengine(monkeypatch, marker: Path) -> tuple[type, type]:
    """Classes at mmengine's import paths whose unpickling would write ``marker``."""

    class HistoryBuffer:
        def __init__(self, *args):
            marker.write_text(f"HistoryBuffer{args!r} ran")

        def __reduce__(self):
            return (HistoryBuffer, (np.array([0.5, 0.25]), np.array([1, 1]), 20))

    class MessageHub:
        def __init__(self, *args):
            marker.write_text("MessageHub ran")

        def __reduce__(self):
            return (MessageHub, ("train",))

    for name, cls in (("mmengine.logging.history_buffer", HistoryBuffer),
                      ("mmengine.logging.message_hub", MessageHub)):
        cls.__module__, cls.__qualname__ = name, cls.__name__
        mod = types.ModuleType(name)
        setattr(mod, cls.__name__, cls)
        monkeypatch.setitem(sys.modules, name, mod)
    for pkg in ("mmengine", "mmengine.logging"):
        monkeypatch.setitem(sys.modules, pkg, types.ModuleType(pkg))
    return HistoryBuffer, MessageHub


def runner_checkpoint(model: torch.nn.Module, HistoryBuffer: type, MessageHub: type, **extra) -> dict:
    """Laid out like mmengine's Runner.save_checkpoint (meta, state_dict, message_hub, optimizer)."""
    hb = object.__new__(HistoryBuffer)
    return {
        "meta": {"epoch": 3, "iter": 1200, "mmengine_version": "0.10.4", "seed": 0},
        "state_dict": OrderedDict(canonical_to_mmcls(model.state_dict())),
        "message_hub": {"log_scalars": {"train/loss": hb}, "runtime_info": {"epoch": 3},
                        "resumed_keys": {"epoch": True}, "hub": object.__new__(MessageHub)},
        "optimizer": {"state": {}, "param_groups": [{"lr": 0.05, "momentum": 0.9, "params": [0, 1]}]},
        **extra,
    }


def test_mmengine_runner_checkpoint_loads_its_state_dict_and_runs_nothing(tmp_path, monkeypatch, small):
    marker = tmp_path / "ran.txt"
    HistoryBuffer, MessageHub = fake_mmengine(monkeypatch, marker)
    path = tmp_path / "epoch_3.pth"
    torch.save(runner_checkpoint(small, HistoryBuffer, MessageHub), path)

    lm = load_model(ModelSpec("mmcls", "auto", str(path)))
    assert lm.variant == "hrnet_w18_small" and lm.layout == "mmcls"
    with torch.no_grad():
        assert torch.allclose(lm.model(x64()), small(x64()), atol=1e-5)
    assert not marker.exists()  # the classes sat in sys.modules, yet nothing was called
    # control: a plain unpickle runs the payload, so the assertion above could have failed
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_runner_checkpoint_with_another_global_is_still_refused(tmp_path, monkeypatch, small):
    marker = tmp_path / "ran.txt"
    HistoryBuffer, MessageHub = fake_mmengine(monkeypatch, marker)
    evil_marker = tmp_path / "evil.txt"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {evil_marker}",))

    path = tmp_path / "best_accuracy_top1_epoch_3.pth"
    torch.save(runner_checkpoint(small, HistoryBuffer, MessageHub, evil=Evil()), path)
    with pytest.raises(BadInput, match=r"refused: the pickle asks to call (posix|os|nt)\.system"):
        read_checkpoint(path)
    assert not marker.exists() and not evil_marker.exists()


# -- mmcls 0.x EMA keys ------------------------------------------------------------------


def ema_checkpoint(path: Path, regular: torch.nn.Module, ema: torch.nn.Module) -> Path:
    """mmcls 0.x EMAHook: an ``ema_<name with _>`` buffer per parameter, beside the regular keys."""
    sd = canonical_to_mmcls(regular.state_dict())
    ema_sd = canonical_to_mmcls(ema.state_dict())
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    for k in [k for k in sd if not k.endswith(buffers)]:  # mmcls's parameters
        sd[f"ema_{k.replace('.', '_')}"] = ema_sd[k]
    assert "ema_backbone_conv1_weight" in sd
    torch.save({"meta": {"mmcls_version": "0.25.0"}, "state_dict": sd}, path)
    return path


def test_ema_keys_are_named_and_loaded_with_ema(tmp_path, small, small_b):
    path = ema_checkpoint(tmp_path / "ema.pth", small, small_b)
    logs: list = []
    from workbench.events import Reporter

    plain = load_model(ModelSpec("mmcls", "auto", str(path)), Reporter(logs.append))
    assert torch.equal(plain.model.conv1.weight, small.conv1.weight)
    assert any("EMA weights" in e.message and "--ema" in e.message for e in logs if hasattr(e, "message"))

    ema = load_model(ModelSpec("mmcls", "auto", str(path), ema=True))
    assert torch.equal(ema.model.conv1.weight, small_b.conv1.weight)  # parameters from EMA
    assert torch.equal(ema.model.bn1.running_mean, small.bn1.running_mean)  # buffers: regular
    assert ema.weights_id != plain.weights_id

    r = CliRunner().invoke(app, ["export", "--source", "mmcls", "--variant", "auto", "--weights", str(path),
                                 "--ema", "--to", "safetensors", "--input-size", "64",
                                 "--out", str(tmp_path / "ema.safetensors"), "--json"])
    assert r.exit_code == 0, r.output
    assert state_dict_sha256(read_checkpoint(tmp_path / "ema.safetensors").state_dict) == ema.weights_id


def test_ema_asked_of_a_file_without_ema(tmp_path, small):
    path = tmp_path / "plain.pth"
    torch.save({"state_dict": canonical_to_mmcls(small.state_dict())}, path)
    with pytest.raises(BadInput, match="holds no EMA weights"):
        load_model(ModelSpec("mmcls", "auto", str(path), ema=True))


# -- --config vs weights: the hint names a fix that works -----------------------------------


def test_config_mismatch_hint_names_a_fix_that_works(tmp_path):
    yaml = tmp_path / "cls_hrnet_w18_sgd_lr5e-2_wd1e-4_bs32_x100.yaml"
    yaml.write_text(W18_YAML)
    w30 = build_model("hrnet_w30", device="meta").to_empty(device="cpu")
    sd = {k: torch.zeros_like(v) for k, v in w30.state_dict().items()}
    ckpt = tmp_path / "w30.pth"
    torch.save(sd, ckpt)
    with pytest.raises(BadInput) as info:
        load_model(ModelSpec("official", "auto", str(ckpt), config=str(yaml)))
    msg = str(info.value)
    assert "this checkpoint is hrnet_w30" in msg and "drop config" in msg and "cls_w30" not in msg
    assert "experiments/cls_hrnet_w30_sgd_lr5e-2_wd1e-4_bs32_x100.yaml" in msg
    # following the hint: drop config and set variant = "hrnet_w30" → loads
    lm = load_model(ModelSpec("official", "hrnet_w30", str(ckpt)))
    assert lm.variant == "hrnet_w30"
    # ...or "auto" without config
    assert load_model(ModelSpec("official", "auto", str(ckpt))).variant == "hrnet_w30"
