"""Streaming evaluation: results match the model, formats match the seed, bad files never kill a run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from test_data_fixtures import make_odd_and_bad, make_tiny_onnx, make_val_folder, save_jpeg

from workbench.backends.ort_cpu import OrtPredictor
from workbench.data import open_dataset
from workbench.data.labels import imagenet
from workbench.data.preprocess import Preprocessor, preset_for
from workbench.errors import BadInput, Cancelled
from workbench.evaluate import (
    RESULTS_JSONL,
    evaluate,
    metrics_from_records,
    read_results,
    topk_from_vastai_txt,
    wilson_interval,
)
from workbench.events import Progress, Reporter

LINE_RE = re.compile(r"^(.+): Relay top-([0-4]) id: (\d+), prob: (\d\.\d{8}), class name: (.+)$")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_onnx(tmp_path_factory.mktemp("model") / "tiny.onnx")


@pytest.fixture(scope="module")
def pre() -> Preprocessor:
    return Preprocessor(preset_for("official", "hrnet_w18", "", (64, 64)))


def _direct_top5(model: Path, pre: Preprocessor, paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    logits = sess.run(None, {"input": np.stack([pre.load(p) for p in paths])})[0].astype(np.float64)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    ids = np.argsort(-logits, axis=1, kind="stable")[:, :5]
    return ids, np.take_along_axis(probs, ids, 1)


def test_results_are_the_models_top5_and_files_follow_the_seed_formats(tmp_path, tiny, pre):
    make_val_folder(tmp_path / "data", 10, size=(96, 72))
    ds = open_dataset(tmp_path / "data")
    events = []
    res = evaluate(OrtPredictor(tiny, 2), ds.samples, pre, ds.class_names, tmp_path / "out",
                   batch_size=4, reporter=Reporter(events.append))
    ids, probs = _direct_top5(tiny, pre, [s.path for s in ds.samples])
    recs = read_results(res.results_jsonl)
    assert [r["id"] for r in recs] == [s.id for s in ds.samples]
    for i, (r, s) in enumerate(zip(recs, ds.samples, strict=True)):
        assert r["gt"] == s.label and r["path"] == str(s.path)
        assert r["top5"] == ids[i].tolist()
        assert np.allclose(r["prob5"], probs[i], atol=1e-6)
    # VastAI txt: 5 lines per image in dataset order, ids and names of ImageNet
    lines = res.results_txt.read_text().splitlines()
    assert len(lines) == 50
    for j, ln in enumerate(lines):
        m = LINE_RE.match(ln)
        assert m, ln
        rec = recs[j // 5]
        assert m.group(1) == rec["path"] and int(m.group(2)) == j % 5
        cid = int(m.group(3))
        assert cid == rec["top5"][j % 5] and m.group(5) == imagenet().names[cid]
        assert float(m.group(4)) == pytest.approx(rec["prob5"][j % 5], abs=1e-8)
    report = json.loads(res.report_json.read_text())
    assert report["n"] == 10 and report["skipped"] == 0 and report["preprocess"]["name"] == "official"
    assert [e.done for e in events if isinstance(e, Progress)] == [4, 8, 10]
    assert res.new_images == 10 and res.images_per_s > 0


@pytest.mark.parametrize("schedule", ["burst", "overlap", "streams"])
def test_both_decode_schedules_give_the_models_top5_around_broken_files(tmp_path, tiny, pre, monkeypatch,
                                                                       schedule):
    """burst decodes each batch straight into its slots between inference calls; overlap
    decodes ahead in the background; streams (two sessions) decode and run their own
    batches. A broken file leaves a gap in a burst's slots: the batch must close it, and
    every image keep its own top-5."""
    make_val_folder(tmp_path / "data", 11, size=(96, 72))
    val = tmp_path / "data" / "val"
    broken = sorted(val.iterdir())[2]
    broken.write_bytes(broken.read_bytes()[:200])  # truncated mid-scan
    if schedule == "streams":
        predictor = [OrtPredictor(tiny, 1), OrtPredictor(tiny, 1)]
    else:
        monkeypatch.setenv("HRNET_WB_DECODE_SCHEDULE", schedule)
        predictor = OrtPredictor(tiny, 2)
    ds = open_dataset(tmp_path / "data")
    res = evaluate(predictor, ds.samples, pre, ds.class_names, tmp_path / "out", batch_size=4)
    assert res.decode["schedule"] == schedule and res.skipped == 1 and res.n == 10
    good = [s for s in ds.samples if s.path != broken]
    ids, probs = _direct_top5(tiny, pre, [s.path for s in good])
    recs = {r["id"]: r for r in read_results(res.results_jsonl)}
    assert recs[next(s.id for s in ds.samples if s.path == broken)].get("skipped")
    for i, s in enumerate(good):
        assert recs[s.id]["top5"] == ids[i].tolist(), s.id
        assert np.allclose(recs[s.id]["prob5"], probs[i], atol=1e-6)


def test_metrics_ci_and_eval_topk_agree_on_constructed_labels(tmp_path, tiny, pre):
    """Labels chosen from a first (unlabelled) pass give known top-1/top-5; eval-topk on the
    VastAI txt must give the same figures as the JSONL."""
    make_val_folder(tmp_path / "data", 12, size=(80, 64))
    (tmp_path / "data" / "val_label.txt").unlink()
    ds = open_dataset(tmp_path / "data")
    assert ds.labelled == 0
    first = evaluate(OrtPredictor(tiny, 2), ds.samples, pre, ds.class_names, tmp_path / "unlabelled", batch_size=5)
    assert first.top1 is None and first.top5 is None and first.n == 12 and first.results_txt.exists()
    labels = []
    for i, r in enumerate(read_results(first.results_jsonl)):
        labels.append([r["top5"][0], r["top5"][2], r["top5"][4],
                       next(c for c in range(1000) if c not in r["top5"])][i % 4])
    (tmp_path / "data" / "val_label.txt").write_text(
        "".join(f"{s.path.name} {lab}\n" for s, lab in zip(ds.samples, labels, strict=True)))
    ds = open_dataset(tmp_path / "data")
    res = evaluate(OrtPredictor(tiny, 2), ds.samples, pre, ds.class_names, tmp_path / "labelled", batch_size=5)
    assert (res.top1, res.top5, res.labelled) == (3 / 12, 9 / 12, 12)
    assert res.top1_ci95 == pytest.approx(wilson_interval(3, 12))
    lo, hi = res.top1_ci95
    assert lo < 0.25 < hi and 0.08 < lo and hi < 0.55
    topk = topk_from_vastai_txt(res.results_txt)  # ground truth found via val_label.txt above val/
    assert (topk["top1"], topk["top5"], topk["n"]) == (res.top1, res.top5, res.n)
    assert topk_from_vastai_txt(res.results_txt, tmp_path / "data" / "val_label.txt")["top1"] == res.top1


def test_eval_topk_matches_by_id_not_by_the_ambiguous_name(tmp_path):
    # ImageNet has two classes named "crane": 134 (the bird, n02012849) and 517 (the machine)
    names = imagenet().names
    assert names[134] == names[517] == "crane"
    img = f"/data/val/{imagenet().synsets[134]}/bird.JPEG"
    rows = [(517, 0.6), (134, 0.2), (1, 0.1), (2, 0.05), (3, 0.05)]
    txt = tmp_path / "r.txt"
    txt.write_text("".join(f"{img}: Relay top-{k} id: {c}, prob: {p:.8f}, class name: {names[c]}\n"
                           for k, (c, p) in enumerate(rows)))
    m = topk_from_vastai_txt(txt)
    assert (m["top1"], m["top5"]) == (0.0, 1.0)  # by name, top-1 would wrongly count as right
    txt.write_text(txt.read_text().replace("Relay top-3", "Relay top-9"))
    with pytest.raises(BadInput, match="r.txt:4"):
        topk_from_vastai_txt(txt)


def test_bad_files_are_listed_and_odd_files_classified_cli_exit_0(tmp_path, tiny):
    kinds = make_odd_and_bad(tmp_path / "bad" / "val")
    from conftest import cli_runner

    from workbench.cli.app import app

    out = cli_runner().invoke(app, ["eval", str(tiny), "--data", str(tmp_path / "bad"), "--input-size", "64",
                                    "--batch-size", "2", "--json", "--home", str(tmp_path / "home")])
    assert out.exit_code == 0, out.output
    rec = json.loads(out.stdout)
    bad = sorted(n for n, k in kinds.items() if k in ("truncated", "zero-byte", "text"))
    odd = sorted(n for n, k in kinds.items() if k not in ("truncated", "zero-byte", "text"))
    assert rec["skipped"] == 3 and sorted(Path(f["path"]).name for f in rec["skipped_files"]) == bad
    assert rec["n"] == 4 and rec["labelled"] == 4
    done = {r["id"]: r for r in read_results(Path(rec["results_jsonl"]))}
    assert sorted(i for i, r in done.items() if not r.get("skipped")) == odd
    assert all(len(done[i]["top5"]) == 5 for i in odd)
    txt_images = {ln.split(": Relay")[0] for ln in Path(rec["results_txt"]).read_text().splitlines()}
    assert {Path(p).name for p in txt_images} == set(odd)


def test_unlabelled_folder_still_gets_every_top5(tmp_path, tiny, pre):
    for i in range(3):
        save_jpeg(tmp_path / "pics" / f"p{i}.jpg", seed=i, size=(70, 90))
    ds = open_dataset(tmp_path / "pics")
    res = evaluate(OrtPredictor(tiny, 1), ds.samples, pre, ds.class_names, tmp_path / "o", batch_size=2)
    assert res.n == 3 and res.labelled == 0 and res.top1 is None and res.top1_ci95 is None
    assert len(res.results_txt.read_text().splitlines()) == 15


def test_refuses_to_overwrite_or_mix_configs(tmp_path, tiny, pre):
    make_val_folder(tmp_path / "d", 3, size=(64, 64))
    ds = open_dataset(tmp_path / "d")
    evaluate(OrtPredictor(tiny, 1), ds.samples, pre, ds.class_names, tmp_path / "o", batch_size=2)
    with pytest.raises(BadInput, match="already holds results"):
        evaluate(OrtPredictor(tiny, 1), ds.samples, pre, ds.class_names, tmp_path / "o", batch_size=2)
    other = Preprocessor(preset_for("timm", "hrnet_w18", "", (64, 64), name="vastai"))
    with pytest.raises(BadInput, match="cannot resume.*different preprocess"):
        evaluate(OrtPredictor(tiny, 1), ds.samples, other, ds.class_names, tmp_path / "o", resume=True)
    ten = make_tiny_onnx(tmp_path / "ten.onnx", classes=10)
    with pytest.raises(BadInput, match=r"outputs \(2, 10\) logits but there are 1000 class names"):
        evaluate(OrtPredictor(ten, 1), ds.samples, pre, ds.class_names, tmp_path / "o10", batch_size=2)


@pytest.mark.parametrize("streams", [1, 2])
def test_cancel_mid_run_then_resume_equals_uninterrupted(tmp_path, tiny, pre, streams):
    make_val_folder(tmp_path / "d", 9, size=(64, 80))
    ds = open_dataset(tmp_path / "d")
    full = evaluate(OrtPredictor(tiny, 1), ds.samples, pre, ds.class_names, tmp_path / "full", batch_size=2)

    rep = Reporter()

    def sink(ev):
        if isinstance(ev, Progress) and ev.done >= 4:
            rep.cancel_event.set()

    rep.sink = sink
    with pytest.raises(Cancelled):
        evaluate([OrtPredictor(tiny, 1) for _ in range(streams)], ds.samples, pre, ds.class_names,
                 tmp_path / "part", batch_size=2, reporter=rep)
    assert len(read_results(tmp_path / "part" / RESULTS_JSONL)) == 4
    # a torn line, as a kill -9 in the middle of a write leaves it
    with open(tmp_path / "part" / RESULTS_JSONL, "a") as fh:
        fh.write('{"id":"ILSVRC2012_val_00000005.JPEG","path":"x","gt":1,"top5":[1,2')
    res = evaluate(OrtPredictor(tiny, 1), ds.samples, pre, ds.class_names, tmp_path / "part", batch_size=2,
                   resume=True)
    assert res.resumed == 4 and res.new_images == 5
    assert read_results(tmp_path / "part" / RESULTS_JSONL) == read_results(full.results_jsonl)
    assert (tmp_path / "part" / "results.txt").read_text() == full.results_txt.read_text()
    assert (res.top1, res.top5, res.n) == (full.top1, full.top5, full.n)


def test_metrics_from_records_counts_skips_and_unlabelled():
    recs = [{"id": "a", "gt": 1, "top5": [1, 2, 3, 4, 5]}, {"id": "b", "gt": 9, "top5": [1, 2, 3, 4, 9]},
            {"id": "c", "gt": None, "top5": [1, 2, 3, 4, 5]}, {"id": "d", "path": "d.jpg", "skipped": "empty file"}]
    m = metrics_from_records(recs)
    assert (m["n"], m["labelled"], m["skipped"], m["top1"], m["top5"]) == (3, 2, 1, 0.5, 1.0)
    assert m["skipped_files"] == [{"id": "d", "path": "d.jpg", "reason": "empty file"}]
    assert wilson_interval(0, 13) == pytest.approx((0.0, 0.2280954), abs=1e-6)
    assert wilson_interval(50, 100) == pytest.approx((0.4038315, 0.5961685), abs=1e-6)


def test_run_eval_reads_size_and_fixed_batch_from_the_onnx(tmp_path, home):
    import onnx

    from workbench.evaluate import run_eval
    from workbench.export import read_onnx_input

    p = make_tiny_onnx(tmp_path / "static.onnx")
    m = onnx.load(str(p))
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[0].dim_value, dims[2].dim_value, dims[3].dim_value = 1, 64, 96
    onnx.save(m, str(p))
    info = read_onnx_input(p)
    assert (info.batch, info.height, info.width) == (1, 64, 96)
    make_val_folder(tmp_path / "d", 3, size=(120, 80))
    logs = []
    rec = run_eval(str(p), str(tmp_path / "d"), home=home, batch_size=4,
                   reporter=Reporter(lambda e: logs.append(getattr(e, "message", ""))))
    assert rec["n"] == 3 and rec["preprocess"]["input_size"] == [64, 96]
    assert any("fixed batch of 1" in m for m in logs)
    with pytest.raises(BadInput, match="takes 64x96 input, not 64x64"):
        run_eval(str(p), str(tmp_path / "d"), home=home, input_size=(64, 64))


def test_eval_by_artifact_name_uses_the_preprocessing_it_was_calibrated_with(tmp_path, home):
    from workbench.evaluate import run_eval
    from workbench.store import Store

    model = make_tiny_onnx(tmp_path / "m.onnx")
    calibrated = preset_for("timm", "hrnet_w18", "", (64, 64), name="vastai").as_dict()
    Store(home.db).add_artifact("k123", "tiny-int8", "artifact", str(model), source="timm", variant="hrnet_w18",
                                backend="ort-cpu", dtype="int8", input_size="64x64",
                                meta={"source": "", "calibration": {"preprocess": calibrated}})
    make_val_folder(tmp_path / "d", 2, size=(80, 64))
    rec = run_eval("tiny-int8", str(tmp_path / "d"), home=home)
    assert rec["preprocess"] == calibrated and rec["build"] == "tiny-int8"
    fp32 = run_eval("tiny-int8", str(tmp_path / "d"), home=home, preprocess="official")
    assert fp32["preprocess"]["name"] == "official"
    rows = [r for r in Store(home.db).leaderboard() if r["run_id"] == rec["run_id"]]
    assert rows and rows[0]["images"] == 2 and rows[0]["dtype"] == "int8"
    with pytest.raises(BadInput, match="neither a model file nor an artifact"):
        run_eval("no-such-build", str(tmp_path / "d"), home=home)


def test_streams_refuse_a_label_file_that_does_not_fit_the_model_in_one_line(tmp_path, tiny, pre):
    make_val_folder(tmp_path / "d", 6, size=(64, 80))
    ds = open_dataset(tmp_path / "d")
    with pytest.raises(BadInput, match="the model outputs .* logits but there are 10 class names"):
        evaluate([OrtPredictor(tiny, 1), OrtPredictor(tiny, 1)], ds.samples, pre, ds.class_names[:10],
                 tmp_path / "out", batch_size=2)


def test_eval_cli_streams_records_what_ran_and_ray_refuses_streams(tmp_path, home, tiny):
    from typer.testing import CliRunner

    from workbench.cli import _load_commands
    from workbench.cli.app import app
    from workbench.evaluate import run_eval

    _load_commands()
    make_val_folder(tmp_path / "d", 7, size=(96, 72))
    r = CliRunner().invoke(app, ["eval", str(tiny), "--data", str(tmp_path / "d"), "--input-size", "64",
                                 "--streams", "2", "--threads", "2", "--batch-size", "2", "--json",
                                 "--home", str(home.root)])
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)
    assert rec["n"] == 7 and rec["decode"]["schedule"] == "streams" and rec["decode"]["streams"] == 2
    assert (rec["runtime"]["streams"], rec["runtime"]["threads"]) == (2, 2)
    with pytest.raises(BadInput, match="--streams is for the local engine"):
        run_eval(str(tiny), str(tmp_path / "d"), home=home, streams=2, sharded=lambda *a, **k: None)


def test_openvino_streams_share_one_compiled_model_and_pad_the_last_batch(tmp_path, tiny, pre):
    """OpenVINO streams are one model compiled for the batch shape with NUM_STREAMS=2 (as
    bench runs them); a short batch (a skipped file, the last one) is padded and the
    padding's rows dropped: every image gets the top-5 the one-stream eval gives it."""
    from workbench.backends.openvino_cpu import OpenVinoPredictor
    from workbench.evaluate.run import open_streams

    make_val_folder(tmp_path / "data", 11, size=(96, 72))
    broken = sorted((tmp_path / "data" / "val").iterdir())[1]
    broken.write_bytes(b"not a jpeg")
    ds = open_dataset(tmp_path / "data")
    streams = open_streams(tiny, "openvino-cpu", 2, 2, Reporter(), (4, 3, 64, 64))
    assert [type(p).__name__ for p in streams] == ["OpenVinoRequest"] * 2
    assert streams[0].compiled is streams[1].compiled and streams[0].batch == 4
    res = evaluate(streams, ds.samples, pre, ds.class_names, tmp_path / "streams", batch_size=4)
    ref = evaluate(OpenVinoPredictor(tiny, 2), ds.samples, pre, ds.class_names, tmp_path / "one", batch_size=4)
    assert (res.n, res.skipped, res.decode["streams"]) == (10, 1, 2)
    got = {r["id"]: r for r in read_results(res.results_jsonl)}
    for r in read_results(ref.results_jsonl):
        assert got[r["id"]].get("top5") == r.get("top5"), r["id"]
        if "prob5" in r:
            assert np.allclose(got[r["id"]]["prob5"], r["prob5"], atol=1e-5)
