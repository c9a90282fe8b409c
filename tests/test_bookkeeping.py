"""Every figure points at one model and one eval (issue 26): the leaderboard never quotes
a leaked eval over a held-out one, artifact keys come from content alone, and a name that
several builds share is refused with their keys instead of silently taking the newest."""

from __future__ import annotations

import numpy as np
import pytest
from test_eval_trust import CALIB, N, int8_dir, layouts  # noqa: F401  (module fixtures)
from typer.testing import CliRunner

from workbench.errors import BadInput
from workbench.evaluate import run_eval
from workbench.store import Store


def _cli(*args: str):
    from workbench.cli import _load_commands
    from workbench.cli.app import app

    _load_commands()
    return CliRunner().invoke(app, list(args))


def test_leaderboard_by_artifact_quotes_the_held_out_eval_over_a_larger_leaked_one(
        home, layouts, int8_dir):  # noqa: F811
    held = run_eval(str(int8_dir), str(layouts["val"]), home=home)
    leaked = run_eval(str(int8_dir), str(layouts["val"]), home=home, include_calibration=True)
    assert leaked["run_id"] > held["run_id"] and leaked["n"] == N > held["n"] == N - CALIB
    (row,) = Store(home.db).leaderboard(group="artifact")
    assert row["eval_run"] == held["run_id"] and row["includes_calibration"] is False
    assert "held out from calibration" in row["eval_choice"]
    out = _cli("leaderboard", "--by", "artifact", "--home", str(home.root))
    assert out.exit_code == 0, out.output
    text = " ".join(out.stdout.split())
    assert f"accuracy from run {held['run_id']}" in text and "INCLUDES" not in text


def _tiny_torch_model():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                               torch.nn.Linear(8, 1000)).eval()


def test_the_same_model_exported_and_built_in_two_homes_gets_one_key(tmp_path):
    """The export writes its measured parity into the ONNX metadata; it differs between
    machines (and here between parity sets). The key must not."""
    from workbench.build import BuildRecipe, build_artifact
    from workbench.export import export_onnx, read_export_metadata

    keys, cosines = [], []
    for i, n in enumerate((2, 3)):
        x = np.random.default_rng(i).standard_normal((n, 3, 64, 64)).astype(np.float32)
        onnx = export_onnx(_tiny_torch_model(), tmp_path / f"e{i}" / "m.onnx", (64, 64),
                           parity_inputs=x).path
        cosines.append(read_export_metadata(onnx).parity_images)
        art = build_artifact(onnx, BuildRecipe("ort-cpu", "fp32"), model_name="tiny",
                             input_size=(64, 64), weights_id="tiny:seed0", home=tmp_path / f"home{i}")
        keys.append(art.key)
    assert cosines[0] != cosines[1]  # the files differ in their measured metadata...
    assert keys[0] == keys[1]  # ...but not in content


def _two_sources_one_name(home):
    store = Store(home.db)
    for key, source in (("a" * 64, "timm"), ("b" * 64, "official")):
        store.add_artifact(key, "m-fp32-none-3_64_64-ort-cpu", "artifact", str(home.root / key),
                           source=source, weights="random", meta={"key": key, "source": source})
    return store


def test_a_name_two_builds_share_is_refused_with_their_keys_and_sources(home):
    store = _two_sources_one_name(home)
    with pytest.raises(BadInput) as err:
        store.artifact("m-fp32-none-3_64_64-ort-cpu")
    msg = str(err.value)
    assert "matches 2 artifacts" in msg and "aaaaaaaaaaaa (source timm" in msg
    assert "bbbbbbbbbbbb (source official" in msg
    assert store.artifact("a" * 64)["source"] == "timm"  # the key still resolves
    out = _cli("eval", "m-fp32-none-3_64_64-ort-cpu", "--data", str(home.root), "--home", str(home.root))
    assert out.exit_code == 2 and "matches 2 artifacts" in out.output


def test_a_budget_variant_yields_to_the_plain_build_of_its_name(home):
    store = Store(home.db)
    for key, excluded in (("p" * 64, []), ("v" * 64, ["Conv_3"])):
        store.add_artifact(key, "m", "artifact", str(home.root / key), meta={"key": key, "nodes_excluded": excluded})
    assert store.artifact("m")["key"] == "p" * 64
    assert store.artifact("vvvv")["key"] == "v" * 64  # a key prefix names one build
    store.add_artifact("q" * 64, "m", "artifact", str(home.root / "q"), source="mmcls", meta={"key": "q" * 64})
    with pytest.raises(BadInput, match="matches 2 artifacts"):
        store.artifact("m")
