"""The official source: experiment yamls (with the NUM_RANCHES typo), custom stage
configs, checkpoint wrappers, and the head-bias variants (mmcls, timm _ssld)."""

from __future__ import annotations

import pytest
import torch

from workbench.errors import BadInput
from workbench.sources import ModelSpec, load_model
from workbench.sources.checkpoint import read_checkpoint, save_state_dict, state_dict_sha256
from workbench.sources.official import (
    read_experiment_yaml,
    save_official_checkpoint,
    variant_for_config,
)
from workbench.sources.timm_source import build_model

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def official_yaml(stage1_blocks: int, stage1_ch: int, chans: tuple[int, ...], blocks: int,
                  modules: tuple[int, int, int]) -> str:
    """An experiment yaml laid out like the official repo's, NUM_RANCHES typo included."""

    def lst(xs, indent="      "):
        return "".join(f"\n{indent}- {x}" for x in xs)

    text = ("GPUS: (0,1,2,3)\nMODEL:\n  NAME: cls_hrnet\n  IMAGE_SIZE:\n    - 224\n    - 224\n  EXTRA:\n"
            "    WITH_HEAD: true\n    STAGE1:\n      NUM_MODULES: 1\n      NUM_RANCHES: 1\n"
            "      BLOCK: BOTTLENECK\n      NUM_BLOCKS:" + lst([stage1_blocks]) + "\n      NUM_CHANNELS:"
            + lst([stage1_ch]) + "\n      FUSE_METHOD: SUM\n")
    for i, n in enumerate((2, 3, 4)):
        text += (f"    STAGE{n}:\n      NUM_MODULES: {modules[i]}\n      NUM_BRANCHES: {n}\n      BLOCK: BASIC\n"
                 "      NUM_BLOCKS:" + lst([blocks] * n) + "\n      NUM_CHANNELS:" + lst(chans[:n])
                 + "\n      FUSE_METHOD: SUM\n")
    return text + "TRAIN:\n  LR: 0.05\n"


SMALL_V1_YAML = official_yaml(1, 32, (16, 32, 64, 128), 2, (1, 1, 1))
W18_YAML = official_yaml(4, 64, (18, 36, 72, 144), 4, (1, 4, 3))
TINY_YAML = official_yaml(1, 16, (8, 16, 32, 64), 1, (1, 1, 1))  # narrower than any variant


def test_yaml_names_its_variant_despite_the_typo(tmp_path):
    p = tmp_path / "cls_hrnet_w18_small_v1_sgd_lr5e-2_wd1e-4_bs32_x100.yaml"
    p.write_text(SMALL_V1_YAML)
    cfg = read_experiment_yaml(p)
    assert cfg["stage1"]["num_branches"] == 1  # read from NUM_RANCHES
    assert variant_for_config(cfg) == "hrnet_w18_small"
    q = tmp_path / "w18.yaml"
    q.write_text(W18_YAML)
    assert variant_for_config(read_experiment_yaml(q)) == "hrnet_w18"
    lm = load_model(ModelSpec("official", "auto", "random-init", config=str(p)))
    assert lm.variant == "hrnet_w18_small" and lm.preprocess == "official" and lm.pretrained_tag == ""
    with pytest.raises(BadInput, match=r"describes hrnet_w18_small, but variant is hrnet_w18"):
        load_model(ModelSpec("official", "w18", "random-init", config=str(p)))


def test_custom_yaml_builds_and_loads_its_own_checkpoint(tmp_path):
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY_YAML)
    lm = load_model(ModelSpec("official", "auto", "random-init", config=str(p)))
    assert lm.variant == "custom-tiny" and lm.weights_id == "random-init:custom-tiny:seed0"
    assert lm.model.stage4[0].branches[3][0].conv1.out_channels == 64
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = lm.model(x)
    ckpt = save_official_checkpoint(lm.model, tmp_path / "tiny.pth.tar")
    back = load_model(ModelSpec("official", "auto", str(ckpt), config=str(p)))
    with torch.no_grad():
        assert torch.equal(back.model(x), ref)
    with pytest.raises(BadInput, match="matches no known HRNet variant"):
        load_model(ModelSpec("official", "auto", str(ckpt)))
    with pytest.raises(BadInput, match="does not fit hrnet_w18_small: .*shape mismatches"):
        load_model(ModelSpec("official", "small_v1", str(ckpt)))


@pytest.mark.parametrize("text,needle", [
    ("MODEL:\n  NAME: cls_hrnet\n", "no MODEL.EXTRA.STAGE1..STAGE4"),
    (SMALL_V1_YAML.replace("BLOCK: BASIC", "BLOCK: DENSE", 1), "expected BASIC or BOTTLENECK"),
    (SMALL_V1_YAML.replace("NUM_BRANCHES: 3", "NUM_BRANCHES: 2", 1), "STAGE3: NUM_BRANCHES=2"),
    ("MODEL: [unclosed", "not a readable yaml"),
], ids=["no-stages", "bad-block", "branch-count", "not-yaml"])
def test_bad_yaml(tmp_path, text, needle):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(BadInput, match=needle.replace("[", r"\[").replace(".", r"\.")):
        load_model(ModelSpec("official", "auto", "random-init", config=str(p)))


@pytest.mark.parametrize("wrap", ["state_dict", "model", "plain", "module."])
def test_checkpoint_wrappers_unwrap(tmp_path, wrap):
    model = build_model("hrnet_w18_small", device="cpu", seed=5)
    sd = model.state_dict()
    path = tmp_path / "ck.pth"
    if wrap == "module.":
        torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3}, path)
    elif wrap == "plain":
        torch.save(dict(sd), path)
    else:
        torch.save({wrap: dict(sd), "epoch": 100, "best_perf": 0.7}, path)
    raw = read_checkpoint(path)
    assert raw.stripped_module_prefix is (wrap == "module.")
    assert raw.wrapper == ("state_dict" if wrap == "module." else wrap)
    lm = load_model(ModelSpec("official", "auto", str(path)))
    assert lm.weights_id == state_dict_sha256(sd)


def test_same_weights_same_id_across_containers(tmp_path):
    model = build_model("hrnet_w18_small", device="cpu", seed=5)
    a = load_model(ModelSpec("official", "small_v1", str(save_official_checkpoint(model, tmp_path / "a.pth.tar"))))
    b = load_model(ModelSpec("timm", "small_v1", str(save_state_dict(model.state_dict(), tmp_path / "b.safetensors"))))
    assert a.weights_id == b.weights_id == state_dict_sha256(model.state_dict())
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    c = load_model(ModelSpec("timm", "small_v1", str(save_state_dict(half, tmp_path / "c.safetensors"))))
    assert next(c.model.parameters()).dtype == torch.float32


def test_ssld_head_biases(tmp_path):
    """timm's _ssld models lack head-conv biases: zero biases convert, non-zero ones refuse."""
    w18 = build_model("hrnet_w18", device="meta").to_empty(device="cpu")
    sd = {k: torch.zeros_like(v) for k, v in w18.state_dict().items()}
    path = save_state_dict(sd, tmp_path / "w18.safetensors")
    lm = load_model(ModelSpec("timm", "hrnet_w18_ssld", str(path)))
    assert lm.model.final_layer[0].bias is None
    no_bias = save_state_dict(lm.model.state_dict(), tmp_path / "ssld.safetensors")
    back = load_model(ModelSpec("timm", "hrnet_w18", str(no_bias)))
    assert torch.count_nonzero(back.model.final_layer[0].bias) == 0
    sd["final_layer.0.bias"] = torch.ones_like(sd["final_layer.0.bias"])
    path2 = save_state_dict(sd, tmp_path / "w18b.safetensors")
    with pytest.raises(BadInput, match="non-zero biases .* use hrnet_w18$"):
        load_model(ModelSpec("timm", "hrnet_w18_ssld", str(path2)))
