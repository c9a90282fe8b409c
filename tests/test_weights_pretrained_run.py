"""`hrnet-wb run ... --set model.weights=pretrained` end to end against the local hub:
downloads once, caches, runs, shows published vs measured; the second run makes no request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DEMO, cli_runner
from hubserver import LocalHub
from unit_rule import check_units

from workbench.cli.app import app

FAST = ["model.weights=pretrained", "model.input_size=[64, 64]", "build.dtype=fp32", "build.reference=false",
        "bench.batch_sizes=[1]", "bench.iterations=2", "bench.warmup=1", "bench.baseline=false"]

pytestmark = pytest.mark.usefixtures("torch_one_thread", "small_gemm_probe")


@pytest.fixture(scope="module")
def served_weights(tmp_path_factory):
    """hrnet_w18_small weights (random but informative), as timm's hub repo holds them."""
    from workbench.sources.checkpoint import save_state_dict, state_dict_sha256
    from workbench.sources.timm_source import randomized_model

    model = randomized_model("hrnet_w18_small", seed=3, calib_size=64)
    path = save_state_dict(model.state_dict(), tmp_path_factory.mktemp("served") / "model.safetensors")
    return path.read_bytes(), state_dict_sha256(model.state_dict())


def run(tmp_path: Path, hub: LocalHub, monkeypatch, *extra: str, **env: str):
    """``hrnet-wb run`` in-process with the environment a user's shell would give it."""
    e = {"HF_HOME": str(tmp_path / "hf"), "HF_ENDPOINT": hub.endpoint,
         "HRNET_WB_WEIGHTS_DIR": str(tmp_path / "weights"), "NO_PROXY": "127.0.0.1,localhost",
         "COLUMNS": "80", **env}
    for var in ("HF_HUB_CACHE", "HF_HUB_OFFLINE", "HRNET_WB_OFFLINE"):
        if var not in env:
            monkeypatch.delenv(var, raising=False)
    for var, value in e.items():
        monkeypatch.setenv(var, value)
    import huggingface_hub.constants as hc  # it reads HF_HUB_OFFLINE once, at import

    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", env.get("HF_HUB_OFFLINE") == "1")
    sets = [a for s in FAST for a in ("--set", s)]
    return cli_runner().invoke(app, ["run", "--profile", str(DEMO), *sets, "--home", str(tmp_path / "home"), *extra])


def test_pretrained_run_downloads_once_then_runs_from_the_cache(tmp_path, served_weights, monkeypatch):
    data, weights_id = served_weights
    with LocalHub() as hub:
        hub.add_hub_file("timm/hrnet_w18_small.gluon_in1k", "model.safetensors", data)
        first = run(tmp_path, hub, monkeypatch, "--json")
        assert first.exit_code == 0, first.output[-3000:]
        rec = json.loads(first.stdout)
        assert rec["model"]["catalogue_key"] == "timm:hrnet_w18_small.gluon_in1k"
        assert rec["weights"].endswith("/timm/hrnet_w18_small.gluon_in1k/resolve/main/model.safetensors")
        downloads = [r for r in hub.requests if r[:2] == ("cdn", "GET")]
        assert len(downloads) == 1
        # the bundled images are ImageNet-labelled: the reproduction check runs, on a 13-image subset
        (repro,) = rec["reproduction"].values()
        assert repro["published_top1"] == pytest.approx(0.73934) and repro["published_top5"] == pytest.approx(0.91178)
        assert repro["images"] == 13 and repro["subset"]
        lo, hi = repro["top1_ci95"]
        assert lo <= repro["measured_top1"] <= hi and hi - lo > 0.2  # 13 images: a wide interval
        assert repro["delta_top1"] == pytest.approx(repro["measured_top1"] - 0.73934)
        assert check_units(rec) == []

        n = len(hub.requests)
        second = run(tmp_path, hub, monkeypatch)  # the table, not --json
        assert second.exit_code == 0, second.output[-3000:]
        assert len(hub.requests) == n  # second run: 0 requests
        assert "cache hit" in second.stderr
        assert "Δpub" in second.stdout and "reproduction" in second.stdout and "73.93 published" in second.stdout
        assert max(len(line) for line in second.stdout.splitlines()) <= 80


    from workbench.store import Store

    rows = Store(tmp_path / "home" / "store.sqlite").leaderboard()  # what `leaderboard --json` prints
    assert len(rows) == 2 and all(r["published_top1"] == pytest.approx(0.73934) and "delta_top1" in r for r in rows)


def test_pretrained_offline_with_empty_cache_never_falls_back_to_random(tmp_path, monkeypatch):
    with LocalHub() as hub:
        r = run(tmp_path, hub, monkeypatch, "--offline")
        assert r.exit_code == 2 and hub.requests == []
    last = r.stderr.strip().splitlines()[-1]  # the one-line error the CLI ends with
    assert last.startswith("error:") and "offline (--offline)" in last
    assert f"{hub.endpoint}/timm/hrnet_w18_small.gluon_in1k/resolve/main/model.safetensors" in last
    assert "RANDOM-INIT" not in r.stderr
