"""Ray's bookkeeping (issue 26): a Ray eval records what ran, raises no deprecation warning,
and Ray row tasks keep their node home under the user's home on a local cluster."""

from __future__ import annotations

import warnings

import pytest
from test_data_fixtures import make_tiny_onnx, make_val_folder


def test_a_local_clusters_node_home_stays_under_the_users_home(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    from workbench.engines.ray_sweep import _node_home

    monkeypatch.delenv("HRNET_WB_RAY_HOME", raising=False)
    (tmp_path / "home").mkdir()
    assert _node_home(str(tmp_path / "home" / "ray-node")).root == tmp_path / "home" / "ray-node"
    # a node that does not see the driver's disk falls back to its own temp folder
    assert "hrnet-wb-ray" in str(_node_home(str(tmp_path / "elsewhere" / "ray-node")).root)


@pytest.mark.slow
def test_a_ray_eval_records_its_runtime_and_warns_nothing(ray_local, home, tmp_path):
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
    assert not [w for w in seen if "Deprecat" in type(w.message).__name__], [str(w.message) for w in seen]
    (row,) = Store(home.db).leaderboard()
    assert row["eval_precision"] == rec["precision"]


from test_sweep_ray import ray_local  # noqa: E402, F401  (module fixture: a local Ray on 127.0.0.1)
