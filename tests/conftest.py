"""Shared fixtures. Each area keeps its own heavier fixtures in its own test modules; what
several modules need and is costly is built here once per session (the demo run, the cost
table) or once per machine (the trained tiny model: ``tinynet.py``)."""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Two cores in CI: keep torch from oversubscribing when tests run alongside each other.
os.environ.setdefault("OMP_NUM_THREADS", "2")


def pytest_collection_modifyitems(config, items):
    """``HRNET_WB_TEST_ORDER=reverse python -m pytest`` runs the tests last to first: a
    check that no test depends on what an earlier one left behind."""
    if os.environ.get("HRNET_WB_TEST_ORDER") == "reverse":
        items.reverse()


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An isolated workbench home: store, artifacts and runs live under tmp_path."""
    from workbench.home import resolve_home

    root = tmp_path / "home"
    monkeypatch.setenv("HRNET_WB_HOME", str(root))
    return resolve_home(root)


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny inputs: one torch thread is as fast alone and much faster on a busy 2-core box."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


AVX2_ONLY = ("avx", "avx2", "fma", "sse4_2")
AVX512_BF16 = AVX2_ONLY + ("avx512f", "avx512_vnni", "avx512_bf16")


@pytest.fixture
def fake_cpu(monkeypatch):
    """Pretend to be another CPU: ``fake_cpu(flags, ov_caps)`` replaces the two capability
    queries of workbench.hardware (py-cpuinfo's record and OpenVINO's
    OPTIMIZATION_CAPABILITIES), so both sides of every capability branch run anywhere."""
    from workbench import hardware

    def use(flags=AVX2_ONLY, ov_caps=("FP32", "INT8", "BIN", "EXPORT_IMPORT"), model="Fake CPU"):
        raw = {"vendor_id_raw": "FakeVendor", "brand_raw": model, "family": 25, "model": 1,
               "stepping": 1, "arch": "X86_64", "flags": list(flags), "detected_by": "test"}
        monkeypatch.setattr(hardware, "_raw_cpu_info", lambda: raw)
        monkeypatch.setattr(hardware, "_openvino_capabilities", lambda: tuple(ov_caps))
        hardware.reset_detection()
        return hardware.detect_cpu()

    yield use
    hardware.reset_detection()


@pytest.fixture(autouse=True)
def _no_leaked_process_state():
    """In-process CLI calls (typer's CliRunner) must not leave state behind for the next
    test: environment variables (``--offline`` sets one for its children), signal handlers,
    the working directory, torch's thread count. Restored after every test."""
    import sys

    env = dict(os.environ)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    cwd = os.getcwd()
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    yield
    for key in set(os.environ) - set(env):
        del os.environ[key]
    for key, value in env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value
    for sig, handler in handlers.items():
        if signal.getsignal(sig) is not handler and handler is not None:
            signal.signal(sig, handler)
    if os.getcwd() != cwd:
        os.chdir(cwd)
    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def cli_runner() -> Any:
    """typer's CliRunner on the real app, every command loaded."""
    from typer.testing import CliRunner

    from workbench.cli import _load_commands

    _load_commands()
    return CliRunner()


DEMO = ROOT / "profiles" / "demo.toml"
#: The demo profile at test size: same stages, same code paths, seconds instead of a minute.
DEMO_FAST = ["model.input_size=[64, 64]", "build.calibration.count=2", "bench.batch_sizes=[1, 2]",
             "bench.iterations=2", "bench.warmup=1"]


@dataclass(frozen=True)
class DemoRun:
    """``hrnet-wb run --profile profiles/demo.toml`` (at DEMO_FAST) into ``home``: its
    ``--json`` record. Shared and read-only: a test that writes copies the home first."""

    home: Any  # workbench.home.Home
    record: dict[str, Any]


def use_small_gemm_probe(mp: pytest.MonkeyPatch) -> None:
    """The bench stage's probe of the machine's GEMM peak (``bench.limits``), real but at
    256² and 2 repetitions instead of 2048² and 8 (seconds on a busy 2-core box, where a
    noisy probe is never cached and so reruns in every bench). For tests whose subject is
    not the peak; ``test_bench`` tests the probe itself."""
    from workbench.bench import limits

    real = limits.probe_gemm

    def small(precision: str, threads: int = 0, n: int = 2048, reps: int = 8,
              reporter: Any = None) -> Any:
        return real(precision, threads, n=256, reps=2, reporter=reporter)

    mp.setattr(limits, "probe_gemm", small)


@pytest.fixture
def small_gemm_probe(monkeypatch):
    use_small_gemm_probe(monkeypatch)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> DemoRun:
    """One populated store for the session, made in-process through the real CLI."""
    from workbench.cli.app import app
    from workbench.home import resolve_home

    root = tmp_path_factory.mktemp("demo") / "home"
    sets = [a for s in DEMO_FAST for a in ("--set", s)]
    with pytest.MonkeyPatch.context() as mp:
        use_small_gemm_probe(mp)
        r = cli_runner().invoke(app, ["run", "--profile", str(DEMO), *sets, "--json", "--home", str(root)])
    assert r.exit_code == 0, r.output[-3000:]
    return DemoRun(resolve_home(root), json.loads(r.stdout))


@pytest.fixture(scope="session")
def cost_json(tmp_path_factory) -> Path:
    """Every variant's params and compute at 224 under every source's convention, counted
    once per session, in-process, by the worker the TUI's Models pane runs. Copy it into a
    home's ``cache/cost.json`` to start from full tables."""
    import contextlib
    import io

    from workbench.sources.variants import VARIANTS
    from workbench.tui import count_worker

    path = tmp_path_factory.mktemp("cost") / "cost.json"
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert count_worker.main(["224", "224", str(path), *VARIANTS]) == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [x["variant"] for x in lines] == list(VARIANTS) and not any(x["errors"] for x in lines)
    return path
