"""`pretrained` weights: download with progress, resume, verify, cache, offline.

Nothing here reaches the internet: tests/hubserver.py runs a hub (HF_ENDPOINT) and a
download server (HRNET_WB_MMCLS_BASE_URL) on 127.0.0.1 and counts every request.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from hubserver import LocalHub

from workbench.errors import BadInput
from workbench.events import Progress, Reporter
from workbench.sources.weights_catalogue import find_weights
from workbench.sources.weights_download import cached_file, fetch_weights, local_path

MMCLS_PATH = "/mmclassification/v0/hrnet/"


@pytest.fixture(scope="module")
def hub():
    with LocalHub() as h:
        yield h


@pytest.fixture
def env(hub, tmp_path, monkeypatch):
    """Isolated caches; the hub and the mmcls server point at the local servers."""
    import huggingface_hub.constants as hc

    hub.state.requests.clear()
    hub.state.cut_next, hub.state.corrupt = 0, False
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
    # huggingface_hub reads HF_ENDPOINT once, at import: set what it would have read, so that
    # nothing (not even its agent-registry lookup) leaves 127.0.0.1
    monkeypatch.setattr(hc, "ENDPOINT", hub.endpoint)
    monkeypatch.setattr(hc, "HUGGINGFACE_CO_URL_TEMPLATE", hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    # ... and HF_HUB_OFFLINE too: an in-process test before this one may have imported it set
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HRNET_WB_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("HRNET_WB_MMCLS_BASE_URL", hub.cdn)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for var in ("HF_HUB_OFFLINE", "HRNET_WB_OFFLINE", "HRNET_WB_WEIGHTS_CATALOGUE"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def mmcls_catalogue(path: Path, hub: LocalHub, data: bytes, name: str = "hrnet-w18_test_in1k") -> str:
    """A catalogue whose mmcls w18 entry names a file the local server holds, with its real hash."""
    prefix = hashlib.sha256(data).hexdigest()[:8]
    fname = f"{name}_20260101-{prefix}.pth"
    hub.add_cdn_file(MMCLS_PATH + fname, data)
    path.write_text(
        "[[weights]]\nsource = \"mmcls\"\nvariant = \"hrnet_w18\"\ntag = \"test_in1k\"\ndefault = true\n"
        f"url = \"https://download.openmmlab.com{MMCLS_PATH}{fname}\"\nsha256_prefix = \"{prefix}\"\n"
        "top1 = 76.75\ntop5 = 93.44\n"
    )
    return str(path)


def progress_of(events: list) -> list[Progress]:
    return [e for e in events if isinstance(e, Progress)]


# -- the hub path (timm), through huggingface_hub --------------------------------------------


def test_hub_download_with_progress_then_cache_hit_without_requests(env, hub, monkeypatch):
    data = os.urandom(3_000_000)
    served = hub.add_hub_file("timm/hrnet_w18_small.gluon_in1k", "model.safetensors", data)
    entry = find_weights("timm", "w18_small")
    events: list = []
    got = fetch_weights(entry, Reporter(events.append))
    assert not got.cached and got.path.read_bytes() == data and got.sha256 == served.sha256
    assert got.path.is_relative_to(env / "hf" / "hub")  # the normal HF cache, where timm looks
    prog = progress_of(events)
    assert prog and prog[-1].done == prog[-1].total == len(data) and prog[-1].unit == "B"
    assert any(r[:2] == ("hub", "HEAD") and "/resolve/main/model.safetensors" in r[2] for r in hub.requests)
    assert any(r[:2] == ("cdn", "GET") for r in hub.requests)

    before = len(hub.requests)
    again = fetch_weights(entry)
    assert again.cached and again.path == got.path
    assert len(hub.requests) == before  # second run: no request at all
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # offline with the file cached: fine
    assert fetch_weights(entry).path == got.path and len(hub.requests) == before


def test_hub_resume_after_cut_connection(env, hub):
    # > 10 MiB: huggingface_hub writes in 10 MiB chunks and resumes from what it wrote
    data = os.urandom(24 * 2**20)
    hub.add_hub_file("timm/hrnet_w18.ms_aug_in1k", "model.safetensors", data)
    hub.state.cut_next = 1
    got = fetch_weights(find_weights("timm", "w18"))
    assert got.path.read_bytes() == data
    ranges = [r[3] for r in hub.requests if r[:2] == ("cdn", "GET")]
    assert len(ranges) == 2 and ranges[0] == "" and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"


def test_hub_checksum_mismatch_is_refused_and_leaves_no_file(env, hub):
    hub.add_hub_file("timm/hrnet_w18.ms_in1k", "model.safetensors", os.urandom(100_000))
    hub.state.corrupt = True
    with pytest.raises(BadInput, match=r"checksum mismatch .*deleted"):
        fetch_weights(find_weights("timm", "w18", "ms_in1k"))
    assert [p for p in (env / "hf" / "hub").rglob("*") if p.is_file() and "blobs" in p.parts] == []
    assert [p for p in (env / "hf" / "hub").rglob("snapshots/*/*")] == []
    assert cached_file(find_weights("timm", "w18", "ms_in1k")) is None


def test_hub_missing_safetensors_falls_back_to_pytorch_model_bin(env, hub):
    data = os.urandom(50_000)
    hub.add_hub_file("timm/hrnet_w30.ms_in1k", "pytorch_model.bin", data)
    got = fetch_weights(find_weights("timm", "w30"))
    assert got.path.name == "pytorch_model.bin" and got.path.read_bytes() == data


def test_offline_with_empty_cache_is_one_line(env, hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BadInput) as info:
        fetch_weights(find_weights("timm", "w40"))
    msg = str(info.value)
    assert "\n" not in msg and "HF_HUB_OFFLINE=1" in msg
    assert f"{hub.endpoint}/timm/hrnet_w40.ms_in1k/resolve/main/model.safetensors" in msg
    assert hub.requests == []


# -- the mmcls path: our own resumable, verified download -------------------------------------


def test_mmcls_download_verifies_hash_and_caches(env, hub, monkeypatch):
    data = os.urandom(2_000_000)
    monkeypatch.setenv("HRNET_WB_WEIGHTS_CATALOGUE", mmcls_catalogue(env / "cat.toml", hub, data))
    entry = find_weights("mmcls", "w18")
    events: list = []
    got = fetch_weights(entry, Reporter(events.append))
    assert got.path == local_path(entry) and got.path.read_bytes() == data
    assert got.path.parent == env / "weights" / "mmcls" and not list(got.path.parent.glob("*.part"))
    assert progress_of(events)[-1].done == len(data)
    assert any("sha256 prefix" in getattr(e, "message", "") and "verified" in e.message for e in events)
    before = len(hub.requests)
    assert fetch_weights(entry).cached and len(hub.requests) == before


def test_mmcls_resume_after_cut_connection_in_the_same_call(env, hub, monkeypatch):
    data = os.urandom(3_000_000)
    monkeypatch.setenv("HRNET_WB_WEIGHTS_CATALOGUE", mmcls_catalogue(env / "cat.toml", hub, data))
    hub.state.cut_next = 1
    got = fetch_weights(find_weights("mmcls", "w18"))
    assert got.path.read_bytes() == data
    ranges = [r[3] for r in hub.requests if r[1] == "GET"]
    assert ranges == ["", f"bytes={len(data) // 2}-"]


def test_mmcls_resume_across_runs_from_the_part_file(env, hub, monkeypatch):
    data = os.urandom(1_000_000)
    monkeypatch.setenv("HRNET_WB_WEIGHTS_CATALOGUE", mmcls_catalogue(env / "cat.toml", hub, data))
    entry = find_weights("mmcls", "w18")
    part = local_path(entry).with_name(local_path(entry).name + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:400_000])  # what a killed earlier run left behind
    got = fetch_weights(entry)
    assert got.path.read_bytes() == data and not part.exists()
    assert [r[3] for r in hub.requests if r[1] == "GET"] == ["bytes=400000-"]


def test_mmcls_checksum_mismatch_is_refused_and_leaves_no_file(env, hub):
    # the packaged catalogue: hrnet-w18's file name promises sha256 0c10b180...; serve other bytes
    entry = find_weights("mmcls", "w18")
    assert entry.sha256_prefix == "0c10b180"
    hub.add_cdn_file(MMCLS_PATH + entry.file_name, os.urandom(500_000))
    with pytest.raises(BadInput, match=r"checksum mismatch.*0c10b180.*nothing was cached"):
        fetch_weights(entry)
    assert [p for p in (env / "weights").rglob("*") if p.is_file()] == []


def test_mmcls_server_error_names_the_url(env, hub):
    entry = find_weights("mmcls", "w32")  # the local server does not have it: 404
    with pytest.raises(BadInput) as info:
        fetch_weights(entry)
    msg = str(info.value)
    assert "\n" not in msg and "HTTP 404" in msg and f"{hub.cdn}{MMCLS_PATH}{entry.file_name}" in msg


def test_unreachable_server_is_one_line(env, monkeypatch):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    monkeypatch.setenv("HRNET_WB_MMCLS_BASE_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(BadInput, match=r"download of http://127\.0\.0\.1:\d+/mmclassification/.* failed"):
        fetch_weights(find_weights("mmcls", "w44"))


def test_official_manual_weights_say_where_to_put_the_file(env):
    entry = find_weights("official", "w18")
    with pytest.raises(BadInput) as info:
        fetch_weights(entry)
    msg = str(info.value)
    dest = env / "weights" / "official" / "hrnetv2_w18_imagenet_pretrained.pth"
    assert "https://1drv.ms/" in msg and str(dest) in msg and "\n" not in msg
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"x")
    assert fetch_weights(entry).path == dest  # put there, it is found


# -- the CLI ---------------------------------------------------------------------------------


def run_cli(env_vars: dict[str, str], *args: str):
    """The CLI in-process, in exactly ``env_vars`` (plus COLUMNS=80) for the variables the
    weights code reads; the autouse guard in conftest restores the environment after."""
    from conftest import cli_runner

    from workbench.cli.app import app

    for var in ("HF_HUB_OFFLINE", "HRNET_WB_OFFLINE"):
        os.environ.pop(var, None)
    os.environ.update({**env_vars, "COLUMNS": "80"})
    return cli_runner().invoke(app, list(args))


def cli_env(env: Path, hub: LocalHub, **extra: str) -> dict[str, str]:
    return {"HF_HOME": str(env / "hf"), "HF_HUB_CACHE": str(env / "hf" / "hub"), "HF_ENDPOINT": hub.endpoint,
            "HRNET_WB_WEIGHTS_DIR": str(env / "weights"), "HRNET_WB_MMCLS_BASE_URL": hub.cdn,
            "HRNET_WB_HOME": str(env / "home"), "NO_PROXY": "127.0.0.1,localhost", **extra}


def test_cli_fetch_then_list_then_offline(env, hub):
    data = os.urandom(1_500_000)
    hub.add_hub_file("timm/hrnet_w44.ms_in1k", "model.safetensors", data)
    ce = cli_env(env, hub)
    r = run_cli(ce, "weights", "fetch", "w44", "--source", "timm", "--json")
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)
    assert rec["ok"] and not rec["cached"] and rec["bytes"] == len(data) and rec["top1"] == 78.89
    n = len(hub.requests)
    r = run_cli(ce, "weights", "fetch", "hrnet_w44", "--json")
    assert json.loads(r.stdout)["cached"] and len(hub.requests) == n

    r = run_cli(ce, "weights")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    row = next(line for line in lines if line.split()[:3] == ["timm", "w44", "ms_in1k*"])
    assert row.split()[-1] == "cached" and "78.89" in row
    listing = json.loads(run_cli(ce, "weights", "--json").stdout)["weights"]
    assert {r_["state"] for r_ in listing if r_["key"] == "timm:hrnet_w44.ms_in1k"} == {"cached"}

    for offline in ({"HF_HUB_OFFLINE": "1"}, {}):
        args = ("weights", "fetch", "w48", "--source", "mmcls") + (() if offline else ("--offline",))
        r = run_cli(cli_env(env, hub, **offline), *args)
        assert r.exit_code == 2 and r.stdout == ""
        err = r.stderr.strip().splitlines()
        assert len(err) == 1 and f"{hub.cdn}{MMCLS_PATH}" in err[0] and "hrnet-wb weights fetch" in err[0]
    assert len(hub.requests) == n
