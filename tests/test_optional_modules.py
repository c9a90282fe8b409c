"""Optional stays optional: with openvino (and the UI packages) hidden, bench and eval
still run on the backends that do not need them.

A real process is needed: the hiding happens at import time, through a ``sitecustomize``
on ``PYTHONPATH`` that puts a meta-path blocker in front of every finder, so a module
that is installed here still raises ``ModuleNotFoundError`` as it would where it is absent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_data_fixtures import make_tiny_onnx

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"

SITECUSTOMIZE = '''
import os, sys
_HIDE = set(filter(None, os.environ.get("WB_TEST_HIDE", "").split(",")))
class _Hidden:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _HIDE:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Hidden())
'''

#: what the GPU machine of docs/GPU lacks, that the bench/eval import path must not need
HIDDEN = "openvino,textual,textual_image,textual_serve,textual_plotext,plotext,ray"


@pytest.fixture(scope="module")
def hidden_env(tmp_path_factory):
    shim = tmp_path_factory.mktemp("shim")
    (shim / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(shim), str(ROOT)])
    env["WB_TEST_HIDE"] = HIDDEN
    env["OMP_NUM_THREADS"] = "1"
    return env


def _wb(env, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "workbench", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def test_the_shim_really_hides_openvino(hidden_env):
    out = subprocess.run([sys.executable, "-c", "import openvino"], env=hidden_env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "No module named 'openvino'" in out.stderr


def test_backends_lists_openvino_as_missing_and_the_rest_as_usable(hidden_env, tmp_path):
    out = _wb(hidden_env, "backends", "--json", "--home", tmp_path / "h")
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)["backends"]}
    assert not rows["openvino-cpu"]["available"]
    assert "openvino" in rows["openvino-cpu"]["reason"]
    assert rows["ort-cpu"]["available"] and rows["torch"]["available"]


@pytest.mark.slow
def test_bench_torch_runs_without_openvino(hidden_env, tmp_path):
    out = _wb(hidden_env, "bench", "--backend", "torch", "--variant", "hrnet_w18_small",
              "--input-size", "64", "--batch", "1", "--iterations", "2", "--rounds", "1",
              "--warmup", "1", "--threads", "1", "--json", "--home", tmp_path / "h")
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert rec["results"][0]["rows"][0]["throughput"] > 0
    lim = rec["limits"]["1"]["fp32"]
    assert "openvino" not in lim["runtime"] and "onnxruntime" in lim["runtime"]


def test_eval_ort_cpu_runs_without_openvino(hidden_env, tmp_path):
    model = make_tiny_onnx(tmp_path / "tiny.onnx")
    out = _wb(hidden_env, "eval", model, "--data", ASSETS, "--input-size", "64",
              "--batch-size", "4", "--json", "--home", tmp_path / "h")
    assert out.returncode == 0, out.stderr
    rec = json.loads(out.stdout)
    assert rec["dataset"]["images"] == 13 and rec["backend"] == "ort-cpu"


#: what the lent GPU machine lacks (the GPU check's docstring): the script needs none of it
GPU_MACHINE_LACKS = HIDDEN + ",simplejpeg,pydantic,pydantic_core,annotated_types,typing_inspection,platformdirs"


def test_gpu_check_without_a_gpu_is_one_line_and_exit_2(hidden_env):
    from workbench.backends.torch_cuda.device import cuda_reason

    if not cuda_reason():
        pytest.skip("a GPU is present: the check would run")
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")],
                         env={**hidden_env, "WB_TEST_HIDE": GPU_MACHINE_LACKS},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("gpu_check: no CUDA GPU here")


@pytest.mark.slow
def test_gpu_check_smoke_runs_on_the_cpu_with_what_the_gpu_machine_lacks_hidden(hidden_env, tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device",
                          "cpu", "--smoke", "--out", str(tmp_path)],
                         env={**hidden_env, "WB_TEST_HIDE": GPU_MACHINE_LACKS,
                              "HRNET_WB_HOME": str(tmp_path / "h")},
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    rep = json.loads((tmp_path / "gpu_check.json").read_text())
    assert rep["agreement"]["bf16"]["bundled"] >= 0.5 and rep["end_to_end"]["fallbacks"] == 0
    assert rep["end_to_end"]["eval_vs_exact_cpu_path"]["images"] > 0
    ran = {r["what"]: r for r in rep["rows"]}
    assert ran["workbench torch-cuda fp32 graphs"]["ran"].startswith("eager (CUDA graphs need a GPU")
    assert "skipped (--no-compile" in ran["workbench torch-cuda fp32 compile"]["note"]
    assert len(rep["steps"]) == 15 and len(rep["goals"]) == 4  # every step says what it did
    assert (tmp_path / "gpu_check.md").read_text().startswith("GPU check on CPU")
