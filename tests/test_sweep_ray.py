"""The Ray engine on a local Ray started here (127.0.0.1, 2 CPUs, shut down after).

One Ray start for the whole module (it is slow on 2 cores). Covers: sharded eval equals
local eval image for image; an actor killed mid-eval still gives every image exactly once;
a killed driver resumes; a sweep of two small variants × fp32/int8 produces the table and
the store rows, and a rerun on the local engine skips them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from sweep_toml import sweep_toml
from tinynet import tinynet  # noqa: F401  (session fixture)
from unit_rule import check_units

ray = pytest.importorskip("ray")

# A Ray cluster start and four Ray runs: minutes on 2 cores. `.ci/run` runs them.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
N_IMAGES = 96
BATCH = 8


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory):
    node_home = tmp_path_factory.mktemp("ray-node-home")
    os.environ["HRNET_WB_RAY_HOME"] = str(node_home)  # inherited by the workers started below
    kwargs = dict(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                  logging_level="ERROR", log_to_driver=False)
    for attempt in range(3):  # Ray gives its raylet a fixed 30 s to register; a loaded box can miss it
        try:
            ray.init(**kwargs)
            break
        except Exception as exc:
            ray.shutdown()
            if attempt == 2 or "timed out during startup" not in str(exc):
                raise
    from workbench.engines.ray_cluster import RaySession

    nodes = [{"node_id": n["NodeID"], "address": n["NodeManagerAddress"],
              "cpus": n["Resources"].get("CPU", 0)} for n in ray.nodes() if n["Alive"]]
    yield RaySession(ray, "local", False, nodes)
    ray.shutdown()
    os.environ.pop("HRNET_WB_RAY_HOME", None)


def test_eval_on_a_ray_it_starts_keeps_stderr_clean_under_json(tinynet, tmp_path):  # noqa: F811
    """A real process that starts its own Ray: stdout is the JSON, stderr is empty, and Ray's
    own lines (its core worker's `E` line about actor arguments, ray-project/ray#57733) are in
    the eval's ray.log."""
    import subprocess
    import sys

    out = tmp_path / "eval"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HRNET_WB_HOME": str(tmp_path / "home")}
    env.pop("HRNET_WB_RAY_HOME", None)
    r = subprocess.run([sys.executable, "-m", "workbench", "eval", str(tinynet.onnx_path), "--data",
                        str(tinynet.root / "data" / "val"), "--engine", "ray", "--limit", "16", "--out", str(out),
                        "--json"], capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["n"] == 16
    assert r.stderr == ""
    assert "core_worker" in (out / "ray.log").read_text()


def _sweep_profile(tmp_path: Path, variants: list[str]) -> Path:
    return sweep_toml(tmp_path, variants)


def test_sweep_two_small_variants_on_ray_then_a_rerun_skips_them(ray_local, tmp_path):
    from typer.testing import CliRunner

    from workbench.cli import _load_commands
    from workbench.cli.app import app
    from workbench.home import resolve_home
    from workbench.store import Store
    from workbench.sweep.plan import load_sweep_profile
    from workbench.sweep.run import run_sweep

    home = resolve_home(tmp_path / "home")
    prof = _sweep_profile(tmp_path, ["hrnet_w18_small", "hrnet_w18_small_v2"])
    rec = run_sweep(load_sweep_profile(prof), home, engine="ray")
    assert rec["complete"] and rec["counts"] == {"ok": 2, "failed": 0, "pending": 0}, rec["rows"]
    table = json.loads(Path(rec["files"]["json"]).read_text())
    assert [r["model"] for r in table["rows"]] == ["hrnet_w18_small", "hrnet_w18_small_v2"]
    for r in table["rows"]:
        assert r["params_m"] in (13.19, 15.6) and r["cost_unit"] == "GMACs"
        for k in ("fp32_top1", "fp32_top5", "int8_top1", "int8_top5", "top1_agreement"):
            assert 0.0 <= r[k] <= 1.0  # fractions, never percent
        assert r["eval_images"] == 13 - 4 and r["random_init"]
        assert r["int8_bs1_p50_ms"] > 0 and r["best_throughput"] > 0
        assert r["node"]["cpu_model"] and r["node_kind"]
    md = Path(rec["files"]["markdown"]).read_text()
    assert "| hrnet_w18_small_v2 | timm | 15.60 |" in md and "random-init" in md
    assert Path(rec["files"]["csv"]).read_text().startswith("id,source,model")

    store = Store(home.db)
    runs = [r for r in store.runs() if r.name.startswith("sweep small")]
    assert len(runs) == 2 and all(r.status == "ok" for r in runs)
    for r in table["rows"]:
        metrics = {(m["build"], m["name"]) for m in store.metrics(r["run_id"])}
        for b in r["builds"]:
            assert {(b["name"], "top1"), (b["name"], "top5"), (b["name"], "p50_ms")} <= metrics
            art = store.artifact(b["key"])
            assert art is not None and Path(art["path"]).is_file()  # carried here by the object store
        run_dir = Path(store.run_record(r["run_id"])["out_dir"])
        assert len(_lines(run_dir / r["builds"][1]["name"] / "results.jsonl")) == 9
    assert len(store.leaderboard()) >= 4  # the TUI leaderboard reads these

    # a rerun (local engine this time) does nothing but rewrite the table
    again = run_sweep(load_sweep_profile(prof), home, engine="local")
    assert again["counts"]["ok"] == 2 and len(store.runs()) == len(runs)
    assert [r["int8_top1"] for r in again["rows"]] == [r["int8_top1"] for r in table["rows"]]

    # bounded: a third row with no time left stays pending; --json through the CLI
    _load_commands()
    prof3 = _sweep_profile(tmp_path, ["hrnet_w18_small", "hrnet_w18_small_v2", "w18"])
    r = CliRunner().invoke(app, ["sweep", "--profile", str(prof3), "--max-minutes", "0.000001",
                                 "--home", str(home.root), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["counts"] == {"ok": 2, "failed": 0, "pending": 1} and not out["complete"]
    assert out["rows"][2]["status"] == "pending" and out["rows"][2]["id"] == "timm:hrnet_w18"
    assert check_units(out) == [] and check_units(table) == []
    assert check_units(store.leaderboard()) == []


@pytest.fixture(scope="module")
def local_eval(tinynet, tmp_path_factory):  # noqa: F811
    from workbench.backends import open_predictor
    from workbench.evaluate import evaluate, read_results

    out = tmp_path_factory.mktemp("local-eval")
    samples = tinynet.val_samples[:N_IMAGES]
    res = evaluate(open_predictor(tinynet.onnx_path, "ort-cpu", 1), samples, tinynet.preprocessor,
                   tinynet.class_names, out, batch_size=BATCH)
    return res, _canon(read_results(res.results_jsonl))


def _canon(records: list[dict]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in records)


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _ray_eval(tinynet, session, out, **kw):  # noqa: F811
    from workbench.engines.ray_eval import evaluate_ray

    return evaluate_ray(tinynet.onnx_path, "ort-cpu", tinynet.val_samples[:N_IMAGES], tinynet.preprocessor,
                        tinynet.class_names, out, session=session, batch_size=BATCH, actors=2,
                        threads=1, **kw)


def test_sharded_eval_on_two_actors_equals_local_eval_image_for_image(tinynet, ray_local, local_eval,  # noqa: F811
                                                                      tmp_path):
    from workbench.evaluate import read_results

    local_res, local_records = local_eval
    res = _ray_eval(tinynet, ray_local, tmp_path)
    assert res.n == N_IMAGES and res.skipped == 0
    assert _canon(read_results(res.results_jsonl)) == local_records  # same ids, top-5 and probabilities
    assert res.top1 == local_res.top1 and res.top5 == local_res.top5
    assert res.top1 > 0.5  # a trained net: the identity is not between two piles of noise
    assert (tmp_path / "results.txt").read_text() == (local_res.results_txt.read_text())


def test_actor_killed_mid_eval_gives_every_image_exactly_once(tinynet, ray_local, local_eval, tmp_path):  # noqa: F811
    marker = tmp_path / "killed-once"
    res = _ray_eval(tinynet, ray_local, tmp_path / "out", fault_marker=str(marker))
    assert marker.exists(), "the fault hook did not fire: nothing was tested"
    lines = _lines(res.results_jsonl)
    assert len(lines) == N_IMAGES and len({r["id"] for r in lines}) == N_IMAGES
    assert _canon(lines) == local_eval[1]


def test_killed_driver_resumes_with_resume(tinynet, ray_local, local_eval, tmp_path):  # noqa: F811
    from workbench.evaluate import CONFIG_JSON

    _res, local_records = local_eval
    first = _ray_eval(tinynet, ray_local, tmp_path / "first")
    # what `kill -9` of the driver leaves: some complete lines, then a torn one
    kept = first.results_jsonl.read_bytes().splitlines(keepends=True)[:20]
    out = tmp_path / "resumed"
    out.mkdir()
    shutil.copy(tmp_path / "first" / CONFIG_JSON, out / CONFIG_JSON)
    (out / "results.jsonl").write_bytes(b"".join(kept) + b'{"id": "torn')
    res = _ray_eval(tinynet, ray_local, out, resume=True)
    assert res.resumed == 20 and res.new_images == N_IMAGES - 20
    lines = _lines(res.results_jsonl)
    assert len(lines) == N_IMAGES and _canon(lines) == local_records


def test_the_driver_writes_a_chunk_delivered_twice_once_in_local_evals_record_form(tmp_path):
    """A retried Ray task can deliver a batch again: ChunkWriter keeps the first, and its lines
    are byte-for-byte the local engine's (key order, rounding, a skipped image's record)."""
    import numpy as np

    from workbench.data.layouts import Sample
    from workbench.engines.ray_eval import ChunkWriter, blocks_for

    samples = [Sample(tmp_path / f"{i}.JPEG", i % 3, f"{i}.JPEG") for i in range(5)]
    chunks = [samples[:4], samples[4:]]
    top = np.arange(2 * 4 * 5).reshape(2, 4, 5)
    prob = np.full((2, 4, 5), 0.123456789)
    kept = np.array([[True, False, True, True], [True, False, False, False]])
    batch = {"chunk": np.array([0, 1]), "kept": kept, "top": top, "prob": prob,
             "reasons": np.array(['{"1": "truncated JPEG"}', "{}"], dtype=object),
             "hashes": np.array([json.dumps(["a", "b", "c", "d"]), json.dumps(["e"])], dtype=object),
             "node": np.array(["n1", "n2"], dtype=object)}
    with open(tmp_path / "r.jsonl", "w") as fh:
        w = ChunkWriter(fh, chunks)
        w.write(batch)
        w.write({k: v[:1] for k, v in batch.items()})  # chunk 0 again
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert w.complete and w.images == 5 and w.new_images == 4 and len(lines) == 5
    assert dict(w.per_node) == {"n1": 1, "n2": 1}
    assert json.loads(lines[1]) == {"id": "1.JPEG", "path": str(samples[1].path), "sha256": "b", "gt": 1,
                                    "skipped": "truncated JPEG"}
    # kept images fill the batch in order: image 2 took slot 1
    assert lines[2] == (f'{{"id":"2.JPEG","path":"{samples[2].path}","sha256":"c","gt":2,'
                        f'"top5":[5,6,7,8,9],"prob5":[0.12345679,0.12345679,0.12345679,0.12345679,0.12345679]}}')
    assert blocks_for(26, 2) == 26 and blocks_for(6250, 2) == 782 and blocks_for(1, 4) == 1
