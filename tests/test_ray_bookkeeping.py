"""Ray's bookkeeping (issue 26): a Ray eval records what ran, raises no deprecation warning,
and Ray row tasks keep their node home under the user's home on a local cluster."""

from __future__ import annotations

import warnings

import pytest
from test_data_fixtures import make_tiny_onnx, make_val_folder


def test_a_local_clusters_node_home_stays_under_the_users_home(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    from workbench.sweep.ray_engine import _node_home

    monkeypatch.delenv("HRNET_WB_RAY_HOME", raising=False)
    (tmp_path / "home").mkdir()
    assert _node_home(str(tmp_path / "home" / "ray-node")).root == tmp_path / "home" / "ray-node"
    # a node that does not see the driver's disk falls back to its own temp folder
    assert "hrnet-wb-ray" in str(_node_home(str(tmp_path / "elsewhere" / "ray-node")).root)


@pytest.mark.slow
def test_a_ray_eval_records_its_runtime_and_warns_nothing(ray_local, home, tmp_path):  # noqa: F811
    from workbench.engines import sharded_eval
    from workbench.evaluate import run_eval
    from workbench.store import Store

    onnx = make_tiny_onnx(tmp_path / "tiny.onnx")
    data = make_val_folder(tmp_path / "data", 8, size=(80, 64))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        rec = run_eval(str(onnx), str(data), home=home, input_size=(64, 64),
                       sharded=sharded_eval("ray", "", 2))
    assert rec["n"] == 8
    assert rec["runtime"] and rec["runtime"]["runtime"] == "onnxruntime" and rec["precision"]
    # the retry arguments map_batches deprecates (removed in Ray 2.64) are not passed any more
    assert not [w for w in seen if "ray_remote_args" in str(w.message) or "2.64" in str(w.message)]
    (row,) = Store(home.db).leaderboard()
    assert row["eval_precision"] == rec["precision"]


@pytest.mark.slow
def test_the_same_build_made_on_ray_gets_the_local_key(ray_local, tmp_path):  # noqa: F811
    """Export and build run in a Ray worker process (with another parity set, so the ONNX
    metadata differs as it did between machines) and here: one key."""
    import ray

    def export_and_build(root: str, seed: int) -> str:  # by value: runs in the worker as is
        from pathlib import Path

        import numpy as np
        import torch

        from workbench.build import BuildRecipe, build_artifact
        from workbench.export import export_onnx

        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.ReLU(),
                                    torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                    torch.nn.Linear(8, 1000)).eval()
        x = np.random.default_rng(seed).standard_normal((2 + seed, 3, 64, 64)).astype(np.float32)
        onnx = export_onnx(model, Path(root) / "m.onnx", (64, 64), parity_inputs=x).path
        return build_artifact(onnx, BuildRecipe("ort-cpu", "fp32"), model_name="tiny", input_size=(64, 64),
                              weights_id="tiny:seed0", home=Path(root) / "home").key

    local = export_and_build(str(tmp_path / "local"), 0)
    remote = ray.get(ray.remote(export_and_build).remote(str(tmp_path / "ray"), 1))
    assert remote == local


from test_sweep_ray import ray_local  # noqa: E402, F401  (module fixture: a local Ray on 127.0.0.1)
