"""Benchmark core: the grid's figures, interleaving, baseline ratios, sweet spot, roofline,
the machine-limit cache and the store round trip — on a narrow HRNet exported at 64×64
and run through real ONNX Runtime, OpenVINO and torch sessions.

Figures are only checked for structure and sanity (p50 ≤ p90 ≤ p99, throughput against
latency); real speed numbers come from ``hrnet-wb bench`` and ``benchmarks/``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from tinynet import build_model

from workbench.backends.ort_cpu import OrtPredictor
from workbench.bench import (
    BASELINE_LABEL,
    BenchConfig,
    BenchResult,
    BenchRow,
    BenchTarget,
    apply_roofline,
    benchmark,
    benchmark_targets,
    grid_from_store,
    grid_points,
    onnx_gmacs,
    record_result,
    sweet_spot,
    torch_gmacs,
    torch_target,
)
from workbench.errors import BadInput, Cancelled
from workbench.events import Reporter

SIZE = (64, 64)

_NARROW: dict[str, object] = {}


@pytest.fixture(scope="session")
def narrow(tmp_path_factory):
    """The tests' narrow timm HighResolutionNet (``tinynet.build_model``, untrained) and its
    ONNX export (dynamic batch, 64×64).

    Memoised per process so test_bench_cli.py, which imports this fixture, reuses it."""
    if "model" not in _NARROW:
        import torch

        torch.manual_seed(0)
        model = build_model(num_classes=10).eval()
        path = tmp_path_factory.mktemp("bench") / "narrow.onnx"
        with torch.inference_mode():
            torch.onnx.export(model, torch.zeros(1, 3, *SIZE), str(path), dynamo=False,
                              opset_version=17, input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        _NARROW.update(model=model, path=path)
    return _NARROW["model"], _NARROW["path"]


@pytest.fixture(scope="module")
def grid(narrow):
    """One ORT grid run (bs 1,4 × streams 1,2) shared by the figure checks below."""
    _, path = narrow
    cfg = BenchConfig(batch_sizes=[1, 4], streams=[1, 2], threads=[2], warmup=1,
                      iterations=6, rounds=3)
    return benchmark(lambda t: OrtPredictor(path, t), SIZE, cfg, label="narrow-ort",
                     artifact_path=path)


def test_grid_rows_have_sane_figures(grid):
    assert [(r.batch, r.streams) for r in grid.rows] == [(1, 1), (4, 1), (1, 2), (4, 2)]
    assert grid.backend == "ort-cpu"
    for r in grid.rows:
        assert r.threads == 2 and r.threads_per_stream == 2 // r.streams
        assert r.requests == 6 and r.images == 6 * r.batch and r.rounds == 3
        assert 0 < r.min_ms <= r.p50_ms <= r.p90_ms <= r.p99_ms <= r.max_ms
        assert r.min_ms <= r.mean_ms <= r.max_ms
        assert r.throughput_min <= r.throughput <= r.throughput_max
        assert r.p50_min_ms <= r.p50_max_ms
        assert r.spread == pytest.approx((r.throughput_max - r.throughput_min) / r.throughput)
        # With one stream a round's wall time is at least the sum of its requests, so
        # throughput cannot beat batch / fastest latency; N streams at most N times that.
        assert r.throughput <= r.streams * r.batch / (r.min_ms / 1e3) * 1.05
        # ...and it is not orders of magnitude below batch / slowest latency (a unit slip
        # would be 1000x). Not tighter: on a busy machine the gaps between requests,
        # outside every latency, cut throughput by several times (0.32x seen at load 9).
        assert r.throughput >= r.batch / (r.max_ms / 1e3) * 0.02
        assert r.peak_rss_mb > 20 and r.sessions_mb >= 0
    assert grid.artifact_mb == pytest.approx(Path(grid.artifact_path).stat().st_size / 2**20)


def test_headline_picks_latency_at_bs1_and_best_throughput(grid):
    h = grid.headline()
    bs1 = grid.row(1, 1)
    assert h["p50_ms"][0] == bs1.p50_ms and h["p99_ms"][0] == bs1.p99_ms
    assert h["throughput"][0] == max(r.throughput for r in grid.rows)
    d = grid.as_dict()
    assert json.loads(json.dumps(d))["rows"][0]["p50_ms"] == bs1.p50_ms
    assert d["sweet_spot"] is None and d["budget_met"] is None


def test_sweet_spot_respects_the_budget(grid):
    rows = grid.rows
    by_p99 = sorted(rows, key=lambda r: r.p99_ms)
    budget = (by_p99[1].p99_ms + by_p99[2].p99_ms) / 2  # exactly two rows fit
    spot = sweet_spot(rows, budget)
    fitting = [r for r in rows if r.p99_ms <= budget]
    assert len(fitting) == 2 and spot in fitting
    assert spot.throughput == max(r.throughput for r in fitting)
    assert sweet_spot(rows, by_p99[0].p99_ms * 0.5) is None
    assert sweet_spot(rows, by_p99[-1].p99_ms) is max(rows, key=lambda r: r.throughput)


def test_roofline_math(grid, narrow):
    model, path = narrow
    gmacs = onnx_gmacs(path)
    res = apply_roofline(grid, gmacs, {2: 100.0})
    for r in res.rows:
        assert r.gflops == pytest.approx(2 * gmacs * r.throughput)
        assert r.vs_roofline == pytest.approx(r.gflops / 100.0)
    h = res.headline()
    assert h["limit_img_s"][0] == pytest.approx(100.0 / (2 * gmacs))
    assert h["vs_roofline"][0] == pytest.approx(max(r.vs_roofline for r in res.rows))


def test_onnx_gmacs_equals_torch_count(narrow, tmp_path):
    model, path = narrow
    g = torch_gmacs(model, SIZE)
    assert g > 0.01
    assert onnx_gmacs(path) == pytest.approx(g, rel=1e-9)
    # Dynamic-size export: the count scales with the pixels, and a QDQ int8 file counts the same.
    assert onnx_gmacs(path, (128, 128)) == pytest.approx(torch_gmacs(model, (128, 128)), rel=1e-9)
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": np.random.default_rng(0).standard_normal((1, 3, *SIZE), dtype=np.float32)}])

        def get_next(self):
            return next(self.it, None)

    q = tmp_path / "q.onnx"
    quantize_static(str(path), str(q), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
    assert onnx_gmacs(q) == pytest.approx(g, rel=1e-9)
    with pytest.raises(BadInput, match="not a readable ONNX"):
        onnx_gmacs(tmp_path / "missing.onnx")


class Recording:
    """A real predictor that also notes, per call, which target and batch ran."""

    def __init__(self, inner, label, log):
        self.inner, self.label, self.log = inner, label, log
        self.backend = inner.backend

    def predict(self, batch):
        self.log.append((self.label, batch.shape[0]))
        return self.inner.predict(batch)


def test_rounds_interleave_targets_and_baseline_ratios(narrow):
    model, path = narrow
    log: list[tuple[str, int]] = []
    base = torch_target(model, count_macs=False)
    targets = [
        BenchTarget(BASELINE_LABEL, lambda t: Recording(base.factory(t), "torch", log)),
        BenchTarget("ort", lambda t: Recording(OrtPredictor(path, t), "ort", log), str(path)),
    ]
    cfg = BenchConfig(batch_sizes=[1, 2], streams=[1], threads=[0], warmup=1, iterations=3, rounds=3)
    results = benchmark_targets(targets, SIZE, cfg, baseline=BASELINE_LABEL)
    # Collapse consecutive calls into blocks: each (target, batch) block is one warmup or
    # one round. Measured blocks must cycle torch,torch,ort,ort three times.
    blocks: list[tuple[str, int]] = []
    for entry in log:
        if not blocks or blocks[-1] != entry:
            blocks.append(entry)
    order = [("torch", 1), ("torch", 2), ("ort", 1), ("ort", 2)]
    assert blocks == order * 3  # warmup and measurement of a point run back to back
    assert [r.backend for r in results] == ["torch", "ort-cpu"]
    torch_res = results[0]
    for res in results:
        for row in res.rows:
            base_row = torch_res.row(row.batch, row.streams)
            assert row.vs_torch == pytest.approx(row.throughput / base_row.throughput)
        h = res.headline()
        assert h["vs_torch"][0] == pytest.approx(h["throughput"][0] / torch_res.headline()["throughput"][0])
        assert h["vs_torch_latency"][0] == pytest.approx(torch_res.row(1, 1).p50_ms / res.row(1, 1).p50_ms)
    assert results[0].headline()["vs_torch"][0] == pytest.approx(1.0)


def test_duration_mode_and_errors_from_stream_threads(narrow):
    _, path = narrow
    cfg = BenchConfig(batch_sizes=[1], streams=[2], threads=[2], warmup=1, iterations=1,
                      duration_s=0.6, rounds=2)
    res = benchmark(lambda t: OrtPredictor(path, t), SIZE, cfg)
    row = res.rows[0]
    assert row.rounds == 2 and row.requests >= 2 and row.streams == 2
    # The graph's input is 64×64: at 96×96 ORT raises inside the stream threads, and the
    # error must reach the caller instead of hanging or vanishing.
    with pytest.raises(Exception, match="(?i)dimension|shape|invalid"):
        benchmark(lambda t: OrtPredictor(path, t), (96, 96),
                  BenchConfig(batch_sizes=[1], streams=[2], threads=[2], warmup=1, iterations=2))


def test_cancel_stops_the_grid(narrow):
    _, path = narrow
    cancel = threading.Event()
    seen = []

    def sink(ev):
        seen.append(ev)
        if type(ev).__name__ == "Progress":
            cancel.set()

    with pytest.raises(Cancelled):
        benchmark(lambda t: OrtPredictor(path, t), SIZE,
                  BenchConfig(batch_sizes=[1, 2], warmup=0, iterations=6, rounds=3),
                  Reporter(sink, cancel))
    assert sum(type(e).__name__ == "Progress" for e in seen) == 1


def test_config_validation_names_the_setting():
    with pytest.raises(BadInput, match="batch_sizes"):
        BenchConfig(batch_sizes=[0]).validate()
    with pytest.raises(BadInput, match="threads"):
        BenchConfig(threads=[-1]).validate()
    with pytest.raises(BadInput, match="latency budget"):
        BenchConfig(latency_budget_ms=0).validate()
    pts = grid_points(BenchConfig(batch_sizes=[1, 8], streams=[1, 2], threads=[0]))
    assert [(p.batch, p.streams) for p in pts] == [(1, 1), (8, 1), (1, 2), (8, 2)]


def fake_probe(gops: dict[str, float], quiet: bool = True):
    """A stand-in for the GEMM probe with fixed rates (what the cache logic sees)."""
    from workbench.bench.limits import PrecisionLimit

    calls: list[str] = []

    def probe(precision, threads=0, n=2048, reps=8, reporter=None):
        calls.append(precision)
        return PrecisionLimit(precision, gops[precision], gops[precision], threads or 2, n,
                              "fake", precision, "fp", 0.0 if quiet else 9.0,
                              0.0 if quiet else 9.0, 0.01 if quiet else 0.9, quiet, 0.0)

    probe.calls = calls
    return probe


def test_limits_cache_only_quiet_probes(tmp_path, monkeypatch):
    from workbench.bench import limits

    monkeypatch.setattr(limits, "probe_gemm", fake_probe({"fp32": 100.0, "int8": 400.0}, quiet=False))
    noisy = limits.machine_limits(tmp_path, 1, ["fp32", "int8"])
    assert not noisy["fp32"].quiet and "under load" in noisy["fp32"].noise
    assert not (tmp_path / limits.LIMITS_FILE).exists()  # a noisy probe is never the limit
    quiet = fake_probe({"fp32": 120.0, "int8": 500.0})
    monkeypatch.setattr(limits, "probe_gemm", quiet)
    first = limits.machine_limits(tmp_path, 1, ["fp32", "int8"])
    assert first["fp32"].gops == 120.0 and first["fp32"].quiet and not first["fp32"].cached
    again = limits.machine_limits(tmp_path, 1, ["fp32", "int8"])
    assert again["int8"].cached and again["int8"].gops == 500.0 and quiet.calls == ["fp32", "int8"]
    # a later noisy probe neither replaces nor lowers the quiet cached limit
    monkeypatch.setattr(limits, "probe_gemm", fake_probe({"fp32": 50.0, "int8": 50.0}, quiet=False))
    kept = limits.machine_limits(tmp_path, 1, ["fp32"], refresh=True)
    assert kept["fp32"].gops == 120.0 and kept["fp32"].quiet
    # another CPU (or runtime version) invalidates the cache
    monkeypatch.setattr(limits, "cache_key", lambda: "another cpu")
    monkeypatch.setattr(limits, "probe_gemm", fake_probe({"fp32": 90.0}))
    assert limits.machine_limits(tmp_path, 1, ["fp32"])["fp32"].gops == 90.0


def test_load_and_spread_decide_quiet(monkeypatch):
    from workbench.bench import limits

    monkeypatch.setattr(limits, "_cpus", lambda: 2)
    assert limits.is_quiet(0.3, 2.2, 0.05, threads=2)  # our own 2 threads are allowed for
    assert not limits.is_quiet(6.0, 6.0, 0.05, threads=2)  # the 48.5-vs-140 case
    assert not limits.is_quiet(0.1, 0.1, 0.6, threads=2)  # repetitions disagree


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_gemm_probe_runs_the_precision_it_names(precision):
    from workbench.bench.limits import probe_gemm

    lim = probe_gemm(precision, threads=1, n=256, reps=2)
    assert lim.gops > 0.5 and lim.threads == 1 and lim.per_runtime
    assert lim.ran_as == {"fp32": "f32", "int8": "int8"}[precision]  # read back from OpenVINO


def test_rows_use_the_limit_of_the_precision_that_ran():
    from workbench.bench.limits import PrecisionLimit, apply_limits

    def lim(p, g, quiet=True):
        return PrecisionLimit(p, g, g, 2, 256, "fake", p, "fp", 0, 0, 0.0, quiet, 0.0)

    def result(precision):
        row = BenchRow(1, 1, 2, 2, 4, 4, 10, 10, 10, 10, 10, 10, 100.0, 90, 110, 10, 10, 0.2, 2,
                       1.0, 1.0, limit_precision=precision)
        return BenchResult("x", "b", SIZE, BenchConfig(), [row])

    limits = {2: {"fp32": lim("fp32", 100.0), "int8": lim("int8", 400.0, quiet=False)}}
    fp32 = apply_limits(result("fp32"), 1.0, limits).rows[0]  # 200 GOP/s achieved
    assert fp32.vs_roofline == pytest.approx(2.0) and "above the fp32 limit" in fp32.limit_flag
    int8 = apply_limits(result("int8"), 1.0, limits).rows[0]
    assert int8.vs_roofline == pytest.approx(0.5) and "under load" in int8.limit_flag
    bf16 = apply_limits(result("bf16"), 1.0, limits).rows[0]
    assert bf16.vs_roofline is None and "no bf16 limit" in bf16.limit_flag
    ok = apply_limits(result("fp32"), 0.25, limits).rows[0]
    assert ok.vs_roofline == pytest.approx(0.5) and ok.limit_flag == ""


def test_results_go_into_the_store_and_come_back(grid, home):
    from workbench.store import Store

    store = Store(home.db)
    run_id = store.start_run("bench test")
    heads = record_result(store, run_id, grid, artifact_key="k1")
    store.finish_run(run_id, "ok")
    points = grid_from_store(store, run_id, grid.label)
    assert [(p["batch"], p["streams"]) for p in points] == [(1, 1), (1, 2), (4, 1), (4, 2)]
    for p in points:
        row = grid.row(p["batch"], p["streams"])
        assert p["p99_ms"] == pytest.approx(row.p99_ms) and p["throughput"] == pytest.approx(row.throughput)
    board = [r for r in store.leaderboard() if r["run_id"] == run_id]
    assert len(board) == 1
    assert board[0]["p50_ms"] == pytest.approx(heads["p50_ms"])
    assert board[0]["throughput"] == pytest.approx(max(r.throughput for r in grid.rows))


def test_measure_builds_is_the_pipeline_stage_in_one_call(narrow, home, monkeypatch):
    from workbench.bench import limits
    from workbench.bench.bench_run import measure_builds
    from workbench.build import Artifact

    model, path = narrow
    monkeypatch.setattr(limits, "probe_gemm", fake_probe({"fp32": 123.0, "bf16": 300.0,
                                                          "int8": 456.0}))
    cfg = BenchConfig(batch_sizes=[1], warmup=1, iterations=2, rounds=2)
    results = measure_builds([Artifact("k", "narrow-fp32-ort", path, path.parent, "ort-cpu", "fp32", None)],
                             SIZE, cfg, home, model=model)
    assert [r.label for r in results] == [BASELINE_LABEL, "narrow-fp32-ort"]
    base, ort = results
    assert ort.baseline_label == BASELINE_LABEL and ort.rows[0].vs_torch is not None
    assert ort.gmacs == pytest.approx(base.gmacs) == pytest.approx(torch_gmacs(model, SIZE))
    assert ort.rows[0].vs_roofline == pytest.approx(
        2 * ort.gmacs * ort.rows[0].throughput / ort.machine_gflops[ort.rows[0].threads])
    assert ort.machine_gflops[ort.rows[0].threads] == 123.0
    # ORT ran the fp32 graph in f32 and says so; the fp32 limit applies
    assert ort.rows[0].precision == "f32" and ort.rows[0].limit_precision == "fp32"
    assert ort.runtime["runtime"] == "onnxruntime" and ort.runtime["threads"] == ort.rows[0].threads
    assert base.runtime["runtime"] == "torch" and base.fingerprint


def test_openvino_streams_share_one_compiled_model(narrow):
    from workbench.bench.grid import GridPoint
    from workbench.bench.target import artifact_target

    _, path = narrow
    target = artifact_target("ov", path, "openvino-cpu")
    preds = target.open(GridPoint(batch=1, streams=2, threads=2), (1, 3, *SIZE))
    assert len(preds) == 2 and preds[0].compiled is preds[1].compiled
    # compiled at the grid point's static shape, as eval runs it, with the f32 hint
    assert preds[0].compiled.inputs[0].get_partial_shape().is_static
    assert list(preds[0].compiled.inputs[0].get_shape()) == [1, 3, *SIZE]
    assert preds[0].runtime_settings().inference_precision == "f32"
    assert preds[0].compiled.get_property("NUM_STREAMS") == 2
    assert preds[0].compiled.get_property("INFERENCE_NUM_THREADS") == 2
    x = np.random.default_rng(0).standard_normal((1, 3, *SIZE), dtype=np.float32)
    np.testing.assert_allclose(preds[0].predict(x), preds[1].predict(x), rtol=1e-5, atol=1e-5)
    res = benchmark_targets([target], SIZE, BenchConfig(batch_sizes=[1], streams=[2], threads=[2],
                                                        warmup=1, iterations=4, rounds=2))[0]
    assert res.backend == "openvino-cpu" and res.rows[0].requests == 4
