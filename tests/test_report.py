"""``hrnet-wb report``: the page for an empty store, one row, two machines, rows without evals,
a size bound with 24 thumbnails, and the page as headless Chromium shows it (DevTools protocol).

Stores are written through the real Store API over the bundled JPEGs (tests/tui_data.py's
builders); the slow test runs the demo profile itself at test size."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from report_browser import find_chromium, inspect_page
from tui_data import ASSETS, labels, make_home, make_precision_home
from typer.testing import CliRunner

from workbench.home import resolve_home
from workbench.store import Store

pytest.importorskip("matplotlib", reason="the report extra (matplotlib) is not installed")

ROOT = Path(__file__).resolve().parents[1]
N_FLIPS = 24
SIZE_BOUND = 3_000_000  # bytes: the page with 24 thumbnails stays under 3 MB


@pytest.fixture(scope="module")
def cli():
    from workbench.cli import _load_commands
    from workbench.cli.app import app

    _load_commands()
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def report(cli, home, out: Path, *extra) -> tuple[dict, str]:
    r = cli("report", "--home", home.root, "--out", out, "--json", *extra)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout), out.read_text(encoding="utf-8")


def zoo_keys(html: str) -> list[str]:
    body = html.split('id="zoo"', 1)[1].split("</table>", 1)[0] if 'id="zoo"' in html else ""
    return re.findall(r'<tr data-key="([^"]*)"', body)


@pytest.fixture(scope="module")
def flips_home(tmp_path_factory) -> Path:
    """One eval run of an fp32 and an int8 build over 26 copies of the bundled JPEGs, where
    int8 changes the top-1 of 24 of them; speed on a grid of two batch sizes."""
    root = tmp_path_factory.mktemp("flips")
    home = resolve_home(root / "home")
    table, files = labels(), sorted(ASSETS.glob("*.JPEG"))
    data = root / "images"
    data.mkdir()
    store = Store(home.db)
    rid = store.start_run("eval pair")
    out = home.runs / str(rid)
    for dtype in ("fp32", "int8"):
        build = f"hrnet_w18_small-{dtype}-{'percentile' if dtype == 'int8' else 'none'}-3_64_64-ort-cpu"
        key = f"key-{dtype}"
        store.add_artifact(key, build, "artifact", str(home.artifacts / build), source="timm",
                           variant="hrnet_w18_small", weights="w18_small.pth", backend="ort-cpu",
                           dtype=dtype, calibration="percentile" if dtype == "int8" else "",
                           input_size="64x64")
        recs = []
        for i in range(N_FLIPS + 2):
            src = files[i % len(files)]
            img = data / f"img{i:03d}.JPEG"
            if not img.exists():
                shutil.copyfile(src, img)
            gt = table[src.name]
            top = [gt, (gt + 1) % 1000, 2, 3, 4]
            if dtype == "int8" and i < N_FLIPS:
                top = [(gt + 1) % 1000, gt, 2, 3, 4]
            recs.append({"id": img.name, "path": str(img), "gt": gt, "top5": top,
                         "prob5": [0.5, 0.2, 0.1, 0.1, 0.1]})
        (out / build).mkdir(parents=True)
        (out / build / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
        top1 = sum(r["top5"][0] == r["gt"] for r in recs) / len(recs)
        for name, value, unit in (("top1", top1, "fraction"), ("top5", 1.0, "fraction"),
                                  ("images", len(recs), ""), ("throughput", 80.0 if dtype == "int8" else 40.0, "img/s"),
                                  ("p50_ms", 9.0 if dtype == "int8" else 20.0, "ms")):
            store.add_metric(rid, build, name, value, unit, key)
        store.add_eval(rid, build, artifact_key=key, images=len(recs), data_root=str(data),
                       data_layout="imagenet-val", data_hash="0123456789abcdef")
        for batch in (1, 4):
            for q, f in (("p50_ms", 1.0), ("p90_ms", 1.1), ("p99_ms", 1.3)):
                store.add_metric(rid, build, q, f * batch * (9.0 if dtype == "int8" else 20.0), "ms", key,
                                 {"batch": batch, "streams": 1, "threads": 2})
    store.set_out_dir(rid, str(out))
    store.finish_run(rid, "ok")
    return home.root


def test_empty_store_says_there_is_nothing(cli, tmp_path):
    rec, html = report(cli, resolve_home(tmp_path / "home"), tmp_path / "r.html")
    assert rec["rows"] == 0 and zoo_keys(html) == []
    assert "the store holds no figures" in rec["missing"][0]
    assert "No rows: the store holds no figures" in html and "No row has both accuracy and speed" in html


def test_one_row_without_eval_names_what_is_missing(cli, tmp_path):
    home = resolve_home(tmp_path / "home")
    store = Store(home.db)
    rid = store.start_run("bench one")
    build = "hrnet_w18_small-fp32-none-3_64_64-ort-cpu"
    store.add_artifact("k1", build, "artifact", "x", source="timm", variant="hrnet_w18_small",
                       weights="random-init", backend="ort-cpu", dtype="fp32", input_size="64x64")
    store.add_metric(rid, build, "throughput", 50.0, "img/s", "k1")
    store.add_metric(rid, build, "p50_ms", 20.0, "ms", "k1")
    store.finish_run(rid, "ok")
    rec, html = report(cli, home, tmp_path / "r.html")
    assert rec["rows"] == 1 and zoo_keys(html) == ["k1"]
    missing = " ".join(rec["missing"])
    assert "1 of 1 rows have no accuracy" in missing and "no latency grid" in missing
    assert "no int8-vs-fp32 comparison" in missing
    assert "random-init weights have no checkpoint" in html
    # params and GFLOPs in timm's convention at 64×64 (hrnet_w18_small: 13.19 M params)
    assert "<td class=\"n\" data-v=\"13.19\">13.19</td>" in html and "GMACs (timm)" in html


def test_rows_from_two_machines_get_a_plot_each(cli, tmp_path):
    home = make_precision_home(tmp_path)
    png = tmp_path / "png"
    rec, html = report(cli, home, tmp_path / "r.html", "--png", png)
    assert sorted(p.name for p in png.iterdir()) == ["accuracy_vs_throughput-amx-2222222222.png",
                                                      "accuracy_vs_throughput-avx512-1111111111.png"]
    assert all(Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in rec["pngs"])
    assert html.count('<svg ') == 2 and "Speed comes from 2 machines" in html
    assert "avx512-1111111111" in html and "amx-2222222222" in html
    assert "test CPU avx512-1111111111" in html  # the CPU each run recorded
    assert "bf16" in html  # the precision that ran, not the one asked for
    # the full eval (50 images) outranks the later --limit 8 smoke test
    assert '<td class="n" data-v="50">50</td>' in html


def test_rows_without_evals_are_named_and_left_off_the_plot(cli, tmp_path):
    home = make_home(tmp_path)  # tui_data: accuracy metrics without eval records, a cancelled run
    rec, html = report(cli, home, tmp_path / "r.html", "--runs", "1")
    assert rec["rows"] == 2 and "data not recorded" in html
    rec2, html2 = report(cli, home, tmp_path / "r2.html", "--where", "dtype=int8")
    assert {k for k in zoo_keys(html2)} == {"key1int8", "key2int8"}
    bad = cli("report", "--home", home.root, "--runs", "x-y", "--out", tmp_path / "b.html")
    assert bad.exit_code == 2 and "--runs" in bad.output
    bad = cli("report", "--home", home.root, "--out", tmp_path)  # a folder
    assert bad.exit_code == 2 and "--out must be a file, found a folder" in bad.output
    bad = cli("report", "--home", home.root, "--out", tmp_path / "c.html", "--png", tmp_path / "r.html")
    assert bad.exit_code == 2 and "--png must be a folder" in bad.output
    assert not (tmp_path / "b.html").exists() and not (tmp_path / "c.html").exists()


def test_flips_are_capped_and_the_page_stays_small(cli, flips_home, tmp_path):
    home = resolve_home(flips_home)
    rec, html = report(cli, home, tmp_path / "r.html", "--max-flips", N_FLIPS)
    assert rec["flips"] == N_FLIPS and html.count("data:image/jpeg;base64,") == N_FLIPS
    assert rec["bytes"] == len(html.encode()) <= SIZE_BOUND
    assert "24 flipped, McNemar p = 1.19e-07" in html  # 24 vs 0 discordant: 2 × 0.5^24
    assert "agreement 7.69 %" in html  # 2 of 26 images keep their top-1
    capped = report(cli, home, tmp_path / "c.html", "--max-flips", 5)[1]
    assert capped.count("data:image/jpeg;base64,") == 5 and "Showing 5 of 24 (cap 5)" in capped
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing to fetch


def test_report_without_matplotlib_is_one_line_and_exit_2(cli, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    r = cli("report", "--home", tmp_path / "home", "--out", tmp_path / "r.html")
    assert r.exit_code == 2 and "pip install 'hrnet-wb[report]'" in r.output
    assert not (tmp_path / "r.html").exists()


def test_the_recorded_profile_comes_back_as_the_toml_that_ran(tmp_path):
    """Row commands name run-N.toml: the recorded profile (overrides included) as TOML that
    `run --profile` reads back to the same settings."""
    from test_pipeline import DEMO, FAST

    from workbench.profile import load_profile
    from workbench.report.commands import profile_toml, run_command

    prof = load_profile(DEMO, FAST)
    recorded = json.loads(prof.canonical_json())
    (tmp_path / "run-7.toml").write_text(profile_toml(recorded))
    assert json.loads(load_profile(tmp_path / "run-7.toml").canonical_json()) == recorded
    line = run_command({"id": 7, "name": "demo", "profile_path": "profiles/demo.toml", "profile": recorded})
    assert line.startswith("hrnet-wb run --profile run-7.toml")
    ev = run_command({"id": 8, "name": "eval x", "profile": {"eval": {
        "target": "a b", "data": "/d", "layout": "imagefolder", "batch_size": 4, "limit": 9}}})
    assert ev == "hrnet-wb eval 'a b' --data /d --layout imagefolder -b 4 --limit 9"


def browse(html: Path, shot: Path, scripts: bool = True):
    if find_chromium() is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install -y chromium; .ci/run tries it)")
    rep = inspect_page(html, shot, scripts=scripts)
    print(f"\nscreenshot kept at {shot}")
    return rep


def check_in_browser(rep, keys: list[str], images: int) -> None:
    assert rep.console_errors == []
    assert all(u.startswith(("file://", "data:")) for u in rep.requests), rep.requests[:3]
    assert len(rep.probe["images"]) == images and all(i["ok"] for i in rep.probe["images"])
    assert rep.probe["zoo"] == keys
    assert len(rep.probe["sections"]) == 6
    assert Path(rep.screenshot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_page_in_headless_chromium(cli, flips_home, tmp_path):
    home = resolve_home(flips_home)
    out = tmp_path / "report.html"
    report(cli, home, out, "--max-flips", N_FLIPS)
    keys = [r.artifact_key for r in Store(home.db, readonly=True).results(group="artifact")]
    rep = browse(out, tmp_path / "report.png")
    check_in_browser(rep, keys, N_FLIPS)
    assert rep.probe["svgs"] == 2 and rep.probe["filters"] >= 1  # the script ran
    off = browse(out, tmp_path / "report-noscript.png", scripts=False)
    assert off.probe["zoo"] == keys and off.probe["filters"] == 0  # whole without scripts


@pytest.mark.slow
def test_report_of_a_real_demo_run_in_chromium(cli, tmp_path):
    """The demo profile at test size through the real pipeline, then its report."""
    from test_pipeline import DEMO, FAST

    from workbench.events import Reporter
    from workbench.pipeline import run_profile
    from workbench.profile import load_profile

    home = resolve_home(tmp_path / "home")
    run_profile(load_profile(DEMO, FAST), home, Reporter())
    out = tmp_path / "demo.html"
    rec, html = report(cli, home, out, "--png", tmp_path / "png")
    rows = Store(home.db, readonly=True).results(group="artifact")
    assert rec["rows"] == len(rows) == 3  # fp32, int8 and the torch eager baseline
    rep = browse(out, tmp_path / "demo.png")
    check_in_browser(rep, [r.artifact_key or r.build for r in rows], rec["flips"])
    assert "hrnet-wb run --profile run-1.toml" in html and len(rec["pngs"]) == 2


@pytest.mark.slow
def test_tui_leaderboard_key_writes_the_report_of_the_rows_shown(tmp_path):
    from test_tui_app import make_app, ready, settle, sync, wait_for

    home = make_home(tmp_path)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copyfile(ROOT / "profiles" / "demo.toml", profiles / "demo.toml")

    @sync
    async def drive():
        app = make_app(home, profiles)
        async with app.run_test(size=(100, 30)) as pilot:
            await ready(pilot)
            await pilot.press("4")
            await pilot.press("slash", *"int8", "escape")  # filter: the two int8 rows
            assert len(app.query_one("#leaderboard-pane").rows) == 2
            await pilot.press("e")
            await settle(pilot, app, "report")
            assert await wait_for(pilot, lambda: any(
                "report written:" in n.message for n in app._notifications), 10, 0.05)
            return [n.message for n in app._notifications]

    messages = drive()
    written = sorted((home.root / "reports").glob("report-*.html"))
    assert len(written) == 1 and f"report written: {written[0]}" in messages
    assert sorted(zoo_keys(written[0].read_text())) == ["key1int8", "key2int8"]


def test_a_rows_device_is_where_its_runtime_said_it_ran():
    """torch-cuda runs on a GPU or the CPU: the recorded device decides, not the name."""
    from workbench.records import ResultRow
    from workbench.report.gather import Entry

    def entry(backend: str, device: str = "") -> Entry:
        return Entry(ResultRow(1, "r", "ok", "b", backend=backend),
                     settings={"bench": {"device": device}} if device else {})

    assert entry("torch-cuda", "cuda:0").device == "GPU"
    assert entry("torch-cuda", "cpu").device == "CPU"
    assert entry("tensorrt").device == "GPU" and entry("ort-cpu").device == "CPU"
    assert entry("no-such-backend").device == "CPU"
