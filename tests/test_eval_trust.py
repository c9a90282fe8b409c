"""Evaluation you can quote (issue 17): calibration images stay out by content, the
leaderboard names its eval, and image identity does not depend on the folder layout.

The same 12 JPEGs are laid out twice: as ImageNet val (flat ``val/`` + ``val_label.txt``)
and as synset folders. A real int8 build (ORT QDQ on a tiny conv net) is calibrated on
the first layout; everything that must recognise its images is exercised on the second.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_data_fixtures import make_tiny_onnx, make_val_folder
from typer.testing import CliRunner

from workbench.backends.ort_cpu import OrtPredictor
from workbench.data import open_dataset
from workbench.data.identity import content_hash
from workbench.data.labels import imagenet
from workbench.data.preprocess import Preprocessor, preset_for
from workbench.evaluate import compare_results, evaluate, find_results, read_results, run_eval
from workbench.store import Store

N = 12
CALIB = 4


@pytest.fixture(scope="module")
def layouts(tmp_path_factory) -> dict[str, Path]:
    """``{"val": flat val layout, "synsets": the same files in synset folders}``."""
    root = tmp_path_factory.mktemp("layouts")
    val = make_val_folder(root / "flat", N, size=(96, 72))
    table = imagenet()
    syn = root / "synsets"
    for line in (val / "val_label.txt").read_text().splitlines():
        name, idx = line.split()
        d = syn / table.synsets[int(idx)]
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(val / "val" / name, d / f"copy_{name}")  # another name, same bytes
    return {"val": val, "synsets": syn}


@pytest.fixture(scope="module")
def int8_dir(tmp_path_factory, layouts) -> Path:
    """A real int8 artifact calibrated on 4 images of the flat layout; returns its folder."""
    from workbench.build import BuildRecipe, CalibrationSpec, build_artifact

    tmp = tmp_path_factory.mktemp("int8")
    onnx = make_tiny_onnx(tmp / "tiny.onnx")
    pre = Preprocessor(preset_for("official", "hrnet_w18", "", (64, 64)))
    art = build_artifact(onnx, BuildRecipe("ort-cpu", "int8", CalibrationSpec(method="minmax", count=CALIB)),
                         model_name="tiny", input_size=(64, 64), weights_id="tiny:seed0",
                         calibration_samples=open_dataset(layouts["val"]).samples, preprocessor=pre,
                         home=tmp / "home")
    return Path(art.path).parent


def _calibration_hashes(artifact: Path) -> set[str]:
    lines = (artifact / "calibration_manifest.tsv").read_text().splitlines()
    return {ln.split("\t")[3] for ln in lines}


def test_eval_leaves_out_calibration_images_by_content_under_another_layout(home, layouts, int8_dir):
    calib = _calibration_hashes(int8_dir)
    assert len(calib) == CALIB and all(len(h) == 64 for h in calib)
    rec = run_eval(str(int8_dir), str(layouts["synsets"]), home=home)
    assert rec["dataset"]["layout"] == "imagefolder"
    assert rec["calibration"]["excluded"] == CALIB and rec["calibration"]["listed"] == CALIB
    assert rec["n"] == N - CALIB
    results = read_results(Path(rec["results_jsonl"]))
    assert not {r["sha256"] for r in results} & calib
    assert all(r["sha256"] == content_hash(r["path"]) for r in results)

    kept = run_eval(str(int8_dir), str(layouts["synsets"]), home=home, include_calibration=True)
    assert kept["n"] == N and kept["calibration"]["included"] and kept["calibration"]["excluded"] == 0
    run = Store(home.db).run_record(kept["run_id"])
    assert "includes calibration" in run["name"]
    row = next(r for r in Store(home.db).leaderboard() if r["run_id"] == kept["run_id"])
    assert row["includes_calibration"] is True and row["images"] == N


def test_old_manifest_without_hashes_is_matched_through_its_paths(home, layouts, int8_dir, tmp_path):
    old = tmp_path / "old-artifact"
    shutil.copytree(int8_dir, old)
    man = old / "calibration_manifest.tsv"
    man.write_text("".join("\t".join(ln.split("\t")[:3]) + "\n" for ln in man.read_text().splitlines()))
    rec = run_eval(str(old), str(layouts["synsets"]), home=home)
    assert rec["calibration"]["excluded"] == CALIB and rec["n"] == N - CALIB


def test_leaderboard_by_artifact_keeps_the_full_eval_over_a_later_limit_smoke_test(home, layouts, int8_dir):
    from workbench.cli import _load_commands
    from workbench.cli.app import app

    full = run_eval(str(int8_dir), str(layouts["val"]), home=home)
    smoke = run_eval(str(int8_dir), str(layouts["val"]), home=home, limit=3)
    assert smoke["run_id"] > full["run_id"] and smoke["n"] == 3

    rows = Store(home.db).leaderboard(group="artifact")
    assert len(rows) == 1
    row = rows[0]
    assert row["eval_run"] == full["run_id"] and row["images"] == N - CALIB
    assert isinstance(row["images"], int) and row["top1"] == full["top1"]
    assert row["data_layout"] == "imagenet-val" and row["data_root"].endswith("val")
    assert row["data_hash"] == full["dataset"]["data_hash"] and row["eval_limit"] == 0
    assert f"run {full['run_id']}" in row["eval_choice"]
    # by run, every eval row carries its own count and identity; the smoke test says --limit
    per_run = {r["run_id"]: r for r in Store(home.db).leaderboard()}
    assert per_run[smoke["run_id"]]["eval_limit"] == 3 and per_run[smoke["run_id"]]["images"] == 3
    assert per_run[smoke["run_id"]]["data_hash"] == per_run[full["run_id"]]["data_hash"]

    # a full eval on other data is more recent data: it wins, though it has fewer images
    other = run_eval(str(int8_dir), str(layouts["synsets"]), home=home, limit=0, labels="")
    assert other["dataset"]["data_hash"] != full["dataset"]["data_hash"]
    row = Store(home.db).leaderboard(group="artifact")[0]
    assert row["eval_run"] == other["run_id"] and row["data_layout"] == "imagefolder"
    # ... but a smoke test on yet newer data still does not outrank it
    run_eval(str(int8_dir), str(layouts["val"]), home=home, limit=2)
    assert Store(home.db).leaderboard(group="artifact")[0]["eval_run"] == other["run_id"]

    _load_commands()
    out = CliRunner().invoke(app, ["leaderboard", "--by", "artifact", "--home", str(home.root)])
    assert out.exit_code == 0, out.output
    assert "top-1 %" in out.stdout and f"accuracy from run {other['run_id']}" in out.stdout
    js = CliRunner().invoke(app, ["leaderboard", "--by", "artifact", "--json", "--home", str(home.root)])
    (only,) = json.loads(js.stdout)
    assert 0 <= only["top1"] <= 1 and only["images"] == N - CALIB


def test_compare_and_resume_work_across_layouts(home, layouts, tmp_path):
    from workbench.cli import _load_commands
    from workbench.cli.app import app

    model = make_tiny_onnx(tmp_path / "fp32.onnx")
    a = run_eval(str(model), str(layouts["val"]), home=home)
    b = run_eval(str(model), str(layouts["synsets"]), home=home)
    r = compare_results(find_results(str(a["run_id"]), home), find_results(str(b["run_id"]), home))
    assert r["paired_by"] == "content" and r["images"] == N
    assert r["agreement"] == 1.0 and r["only_in_a"] == r["only_in_b"] == 0
    _load_commands()
    out = CliRunner().invoke(app, ["compare", str(a["run_id"]), str(b["run_id"]), "--json",
                                   "--home", str(home.root)])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["images"] == N

    # resume: 5 images done under the flat layout, continued under synset folders
    pre = Preprocessor(preset_for("official", "hrnet_w18", "", (64, 64)))
    flat, syn = open_dataset(layouts["val"]), open_dataset(layouts["synsets"])
    out_dir = tmp_path / "resumed"
    evaluate(OrtPredictor(model, 1), flat.samples[:5], pre, flat.class_names, out_dir, batch_size=4)
    res = evaluate(OrtPredictor(model, 1), syn.samples, pre, syn.class_names, out_dir, batch_size=4,
                   resume=True)
    assert (res.new_images, res.resumed, res.n) == (N - 5, 5, N)
    assert len({r["sha256"] for r in read_results(res.results_jsonl)}) == N


def test_cli_resume_continues_under_another_layout_and_refuses_other_images(home, layouts, tmp_path):
    """``eval --resume``: a smoke test on the flat layout continues as the full eval of the
    same images in synset folders (found by content, labels checked); a folder of other
    images, or a label that changed, is refused with one line."""
    from workbench.cli import _load_commands
    from workbench.cli.app import app

    _load_commands()
    model = make_tiny_onnx(tmp_path / "fp32.onnx")
    out = tmp_path / "run"

    def ev(data: Path, *extra: str):
        return CliRunner().invoke(app, ["eval", str(model), "--data", str(data), "--out", str(out),
                                        "--input-size", "64", "--home", str(home.root), "--json", *extra])

    first = ev(layouts["val"], "--limit", "5")
    assert first.exit_code == 0, first.output
    r = ev(layouts["synsets"], "--resume")
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)
    assert (rec["n"], rec["new_images"], rec["resumed"]) == (N, N - 5, 5)
    assert len({x["sha256"] for x in read_results(out / "results.jsonl")}) == N
    cfg = json.loads((out / "eval_config.json").read_text())
    assert cfg["identity"]["data_root"].startswith(str(layouts["synsets"]))
    assert cfg["identity_history"][0]["data_root"].startswith(str(layouts["val"]))

    # other images under another root: nothing of the folder is found here
    other = make_val_folder(tmp_path / "other", 4, size=(96, 72), start=100)
    r = ev(other, "--resume")
    assert r.exit_code == 2
    err = json.loads(r.stdout)["error"]
    assert "data root" in err and f"{N} of its {N} images are not among the images here" in err

    # the same bytes with another label
    relabel = tmp_path / "relabel"
    shutil.copytree(layouts["val"], relabel)
    lines = (relabel / "val_label.txt").read_text().splitlines()
    name, idx = lines[0].split()
    lines[0] = f"{name} {(int(idx) + 1) % 1000}"
    (relabel / "val_label.txt").write_text("\n".join(lines) + "\n")
    r = ev(relabel, "--resume")
    assert r.exit_code == 2 and "carry another label here" in json.loads(r.stdout)["error"], r.output
