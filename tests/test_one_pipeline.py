"""One lifecycle, one recorder, one pipeline: a sweep row is a run like any other."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_toml import sweep_toml

from workbench.errors import Cancelled
from workbench.home import resolve_home
from workbench.store import Store

ROOT = Path(__file__).resolve().parent.parent


def _sweep_toml(tmp_path: Path) -> Path:
    return sweep_toml(tmp_path, ["hrnet_w18_small"])


@pytest.mark.parametrize("exc, status", [(RuntimeError("boom"), "failed"), (Cancelled("stop"), "cancelled")])
def test_a_sweep_row_goes_through_the_one_run_lifecycle(tmp_path, monkeypatch, exc, status):
    """An internal error in a row leaves its traceback beside the run (Store.run), and the
    sweep goes on; a cancel ends the run 'cancelled' and the sweep with it."""
    import workbench.sweep.run as sweep_run
    from workbench.sweep.plan import load_sweep_profile

    def broken(*a, **k):
        raise exc

    monkeypatch.setattr(sweep_run, "compute_row", broken)
    home = resolve_home(tmp_path / "home")
    plan = load_sweep_profile(_sweep_toml(tmp_path))
    if isinstance(exc, Cancelled):
        with pytest.raises(Cancelled):
            sweep_run.run_sweep(plan, home)
    else:
        rec = sweep_run.run_sweep(plan, home)
        assert rec["counts"]["failed"] == 1 and rec["rows"][0]["error"] == "RuntimeError: boom"
    (run,) = Store(home.db).runs()
    assert run.status == status and run.name == "sweep small timm:hrnet_w18_small"
    assert (Path(run.out_dir) / "traceback.txt").is_file() == (status == "failed")


def _profile_toml(tmp_path: Path) -> Path:
    """The same work as :func:`_sweep_toml`'s one row, written as a run profile."""
    p = tmp_path / "small-run.toml"
    p.write_text(f"""
name = "small"
[model]
source = "timm"
variant = "hrnet_w18_small"
input_size = [64, 64]
[build]
dtype = "int8"
reference = true
[build.calibration]
method = "minmax"
count = 4
[data]
path = "{ROOT / 'assets'}"
batch_size = 4
[bench]
batch_sizes = [1, 2]
warmup = 1
iterations = 3
rounds = 1
""")
    return p


def _rows(store: Store, run_id: int) -> tuple[dict, dict, dict]:
    """Per build key: the eval identity, the bench grid's settings and the runtime stages."""
    import json

    metrics = store.metrics(run_id)
    keys = {m["artifact_key"] for m in metrics if m["name"] == "size_mb"}
    with store._connect() as con:  # noqa: SLF001  (the test reads the tables as they are)
        evals = {r["artifact_key"]: (r["images"], r["data_root"], r["data_layout"], r["data_hash"],
                                     r["eval_limit"], r["calibration_excluded"], r["includes_calibration"])
                 for r in con.execute("SELECT * FROM evals WHERE run_id=?", (run_id,))}
    grid: dict[str, set] = {k: set() for k in keys}
    for m in metrics:
        if m["params_json"] and m["artifact_key"] in keys:
            grid[m["artifact_key"]].add((m["name"], json.dumps(json.loads(m["params_json"]), sort_keys=True)))
    ran: dict[str, set] = {k: set() for k in keys}
    for r in store.runtime(run_id):
        ran.setdefault(r["artifact_key"], set()).add(r["stage"])
    return evals, grid, ran


@pytest.mark.slow
def test_a_sweep_row_a_run_and_bench_profile_of_one_profile_record_the_same(tmp_path):
    """One pipeline: the same builds (keys), the same eval identity and bench rows with the
    same settings, whichever command ran the profile; sweep rows get evals and runtime rows."""
    from workbench.pipeline import bench_profile, run_profile
    from workbench.profile import load_profile
    from workbench.sweep.plan import load_sweep_profile
    from workbench.sweep.run import run_sweep

    home = resolve_home(tmp_path / "home")
    store = Store(home.db)
    prof = load_profile(_profile_toml(tmp_path))
    run = run_profile(prof, home)
    sweep = run_sweep(load_sweep_profile(_sweep_toml(tmp_path)), home)
    bench_id, _ = bench_profile(prof, home)
    sweep_id = sweep["rows"][0]["run_id"]

    keys = [b["key"] for b in run["builds"]]
    assert len(set(keys)) == 2
    assert [b["key"] for b in sweep["rows"][0]["builds"]] == keys
    run_evals, run_grid, run_ran = _rows(store, run["run_id"])
    sweep_evals, sweep_grid, sweep_ran = _rows(store, sweep_id)
    _, bench_grid, bench_ran = _rows(store, bench_id)
    assert set(run_evals) == set(keys) and sweep_evals == run_evals
    assert {k: v[0] for k, v in run_evals.items()} == dict.fromkeys(keys, 13 - 4)
    assert run_grid == sweep_grid == bench_grid and all(run_grid[k] for k in keys)
    assert all(run_ran[k] == sweep_ran[k] == {"eval", "bench"} for k in keys)
    assert all(bench_ran[k] == {"bench"} for k in keys)
    zoo = (tmp_path / "sweep" / "zoo.md").read_text()
    assert f"| 9 | 4 | {sweep_id} |" in zoo and f"Data: {ROOT / 'assets'}" in zoo
    # `hrnet-wb build` of the same model and recipes: the same keys, found in the cache
    import json

    from typer.testing import CliRunner

    from workbench.cli import _load_commands
    from workbench.cli.app import app

    _load_commands()
    built = [json.loads(CliRunner().invoke(app, [
        "build", "--variant", "hrnet_w18_small", "--input-size", "64", "--dtype", dtype, "--method", "minmax",
        "--count", "4", "--data", str(ROOT / "assets"), "--home", str(home.root), "--json"]).stdout)
        for dtype in ("fp32", "int8")]
    assert [b["key"] for b in built] == keys and all(b["cached"] for b in built)


def test_an_artifact_keeps_the_source_of_the_build_that_made_it(tmp_path):
    """Issue 26.5: two sources giving byte-identical builds share one artifact; recording it
    again for the second source must not relabel it (its meta.json names the builder)."""
    from workbench.build import Artifact

    store = Store(resolve_home(tmp_path / "home").db)
    meta = {"key": "k1", "name": "m-fp32-none-3_64_64-ort-cpu", "file": "model.onnx",
            "source": "official", "model": "hrnet_w18_small", "weights": "random-init",
            "input_size": [64, 64]}
    art = Artifact("k1", meta["name"], tmp_path / "model.onnx", tmp_path, "ort-cpu", "fp32", None, meta)
    art.record(store, source="official", variant="hrnet_w18_small", weights="random-init")
    art.record(store, source="timm", variant="hrnet_w18_small", weights="random-init")  # a cache hit
    row = store.artifact("k1")
    assert row is not None and row["source"] == "official" and row["input_size"] == "64x64"
