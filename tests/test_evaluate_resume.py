"""kill -9 in the middle of an evaluation, then --resume: image-for-image equal results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from test_data_fixtures import make_tiny_onnx, make_val_folder

from workbench.evaluate import RESULTS_JSONL, read_results

# The victim: the core evaluate() with a predictor slowed to ~20 batches/s, so the parent
# can kill it for certain while batches are still being appended.
VICTIM = textwrap.dedent("""
    import sys, time
    from workbench.data import open_dataset
    from workbench.data.preprocess import Preprocessor, preset_for
    from workbench.evaluate import evaluate
    from workbench.backends.ort_cpu import OrtPredictor

    model, data, out = sys.argv[1:4]

    class Slow(OrtPredictor):
        def predict(self, batch):
            time.sleep(0.05)
            return super().predict(batch)

    ds = open_dataset(data)
    pre = Preprocessor(preset_for("official", "", "", (64, 64)))
    evaluate(Slow(model, 1), ds.samples, pre, ds.class_names, out, batch_size=2)
    print("finished")
""")


def _lines(p: Path) -> int:
    try:
        return p.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _cli(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "workbench", *args, "--json"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path):
    model = make_tiny_onnx(tmp_path / "tiny.onnx")
    make_val_folder(tmp_path / "data", 40, size=(96, 72))
    script = tmp_path / "victim.py"
    script.write_text(VICTIM)
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), str(model), str(tmp_path / "data"), str(killed)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while _lines(killed / RESULTS_JSONL) < 8:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "victim exited early"
        assert time.monotonic() < deadline, "victim wrote nothing in 60 s"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    partial = read_results(killed / RESULTS_JSONL)
    assert 8 <= len(partial) < 40
    assert not (killed / "eval_report.json").exists()  # the run never finished

    home = str(tmp_path / "home")
    common = ["--data", str(tmp_path / "data"), "--input-size", "64", "--batch-size", "4", "--home", home]
    resumed = _cli("eval", str(model), *common, "--out", str(killed), "--resume")
    whole = _cli("eval", str(model), *common, "--out", str(tmp_path / "whole"))

    assert resumed["resumed"] == len(partial) and resumed["new_images"] == 40 - len(partial)
    a = read_results(killed / RESULTS_JSONL)
    b = read_results(tmp_path / "whole" / RESULTS_JSONL)
    assert sorted(r["id"] for r in a) == sorted(r["id"] for r in b)
    assert {r["id"]: r for r in a} == {r["id"]: r for r in b}  # image for image: gt, top-5 ids and probs
    for key in ("top1", "top5", "n", "labelled", "skipped", "top1_ci95", "top5_ci95"):
        assert resumed[key] == whole[key], key
    assert (killed / "results.txt").read_text() == (tmp_path / "whole" / "results.txt").read_text()
