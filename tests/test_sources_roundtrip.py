"""Three sources, one network. For all 9 widths, on the meta device (no weights, no files):
the canonical keys map to mmcls and back 1:1, the variant is detected from either, and the
mapped dict fits the model strictly. For one small and one large width, a model with random
weights *and* BN statistics, saved in the official layout, the mmcls layout (via the inverse
mapping) and as safetensors, loads back through hrnet-wb to the same logits (≤ 1e-5)."""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.sources import (
    WIDTHS,
    ModelSpec,
    load_model,
    load_state_dict_into,
    variant_of_state_dict,
)
from workbench.sources.checkpoint import read_checkpoint, save_state_dict
from workbench.sources.mmcls import canonical_to_mmcls, mmcls_to_canonical, save_mmcls_checkpoint
from workbench.sources.official import save_official_checkpoint
from workbench.sources.timm_source import build_model, randomized_model

X = torch.from_numpy(np.random.default_rng(7).standard_normal((2, 3, 32, 32)).astype(np.float32))

pytestmark = pytest.mark.usefixtures("torch_one_thread")

def _logits(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(X)


@pytest.fixture
def scratch(tmp_path):
    """~1.5 GB of checkpoints for w64: write them to tmpfs when there is one (the atomic
    writer fsyncs), and delete them right away instead of leaving them to pytest's
    tmp_path retention."""
    root = Path("/dev/shm") if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK) else tmp_path
    folder = Path(tempfile.mkdtemp(prefix="hrnet-wb-roundtrip-", dir=root))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("variant", WIDTHS)
def test_keys_map_and_fit_every_width_on_meta(variant):
    """What the file round trip proved per width, without weights: mmcls keys map 1:1 both
    ways, the variant is read from the canonical keys and from the mapped-back ones, and the
    mapped-back dict loads strictly into a fresh model of that width."""
    sd = build_model(variant, device="meta").state_dict()
    assert variant_of_state_dict(sd)[0] == variant
    mm = canonical_to_mmcls(sd)
    assert len(mm) == len(sd) - 4  # three downsamp biases + the final-layer bias folded away
    assert {k.split(".")[0] for k in mm} == {"backbone", "neck", "head"}
    assert not any(k.endswith("conv.bias") for k in mm)  # mmcls neck convs have no bias
    back = mmcls_to_canonical(mm)
    assert {k: tuple(v.shape) for k, v in back.items()} == {k: tuple(v.shape) for k, v in sd.items()}
    assert variant_of_state_dict(back)[0] == variant
    model = load_state_dict_into(build_model(variant, device="meta"), back, variant, "<meta>")
    assert set(model.state_dict()) == set(sd)


SMALL, LARGE = "hrnet_w18_small", "hrnet_w64"


@pytest.mark.parametrize("variant", [SMALL, pytest.param(LARGE, marks=pytest.mark.slow)])
def test_three_layouts_round_trip(variant, scratch):
    tmp_path = scratch
    model = randomized_model(variant, seed=11, calib_size=64)  # layouts, not numerics: 64 is enough
    ref = _logits(model)
    assert torch.isfinite(ref).all() and 0.05 < float(ref.abs().max()) < 100  # bounded, not degenerate
    # the BN statistics and head biases are really random, so a lost or misplaced one shows
    assert float(model.final_layer[1].running_mean.abs().mean()) > 1e-3
    assert float(model.final_layer[0].bias.detach().abs().mean()) > 1e-3

    files = {
        "official": save_official_checkpoint(model, tmp_path / "checkpoint.pth.tar"),
        "mmcls": save_mmcls_checkpoint(model, tmp_path / "mmcls.pth", variant),
        "timm": save_state_dict(model.state_dict(), tmp_path / "model.safetensors"),
    }
    mm = read_checkpoint(files["mmcls"])
    assert mm.layout == "mmcls" and mm.wrapper == "state_dict"
    assert not any(k.endswith("conv.bias") for k in mm.state_dict)  # mmcls neck convs have no bias
    del mm
    for source, path in files.items():
        lm = load_model(ModelSpec(source=source, variant="auto", weights=str(path)))
        assert lm.variant == variant, (source, lm.variant)
        diff = float((_logits(lm.model) - ref).abs().max())
        assert diff <= 1e-5, f"{variant} via {source}: max abs {diff:.3g}"
        del lm
    del model
    gc.collect()


def test_mmcls_mapping_is_exact_and_the_fold_matters():
    """Key sets map 1:1 both ways, and skipping the bias fold would break the logits."""
    model = randomized_model("hrnet_w18_small", seed=3)
    sd = model.state_dict()
    mm = canonical_to_mmcls(sd)
    assert len(mm) == len(sd) - 4  # three downsamp biases + the final-layer bias folded away
    assert {k.split(".")[0] for k in mm} == {"backbone", "neck", "head"}
    assert "neck.0.downsample_layers.2.conv.weight" in mm and "head.fc.weight" in mm
    back = mmcls_to_canonical(mm)
    assert set(back) == set(sd)
    for k in sd:
        if k.endswith("running_mean") and (k.startswith("downsamp_modules") or k.startswith("final_layer")):
            bias = sd[k.replace(".1.running_mean", ".0.bias")]
            assert torch.allclose(back[k], sd[k] - bias)
        elif k.endswith(".0.bias") and (k.startswith("downsamp_modules") or k.startswith("final_layer")):
            assert torch.count_nonzero(back[k]) == 0
        else:
            assert torch.equal(back[k], sd[k]), k
    # a mapping that renamed keys but forgot the fold would be visibly wrong
    unfolded = {k: (v if not k.endswith(".0.bias") or not (k.startswith("downsamp") or k.startswith("final"))
                    else torch.zeros_like(v)) for k, v in sd.items()}
    wrong = randomized_model("hrnet_w18_small", seed=3)
    wrong.load_state_dict(unfolded)
    assert float((_logits(wrong) - _logits(model)).abs().max()) > 1e-3
