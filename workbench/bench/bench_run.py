"""One recorded bench run of one target: resolve → (baseline) → grid → roofline → store.

This is what ``hrnet-wb bench ARTIFACT`` and the TUI's Bench action call; the pipeline calls
:func:`workbench.bench.benchmark_targets` itself inside its own run.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.backends import is_baseline
from workbench.bench.baseline import (
    BASELINE_LABEL,
    load_baseline,
    register_baseline,
    torch_target,
)
from workbench.bench.gpu_limits import apply_gpu_limits
from workbench.bench.grid import BenchConfig, BenchResult, BenchTarget, benchmark_targets
from workbench.bench.limits import PrecisionLimit, apply_limits, limits_for
from workbench.bench.record import record_result
from workbench.bench.roofline import onnx_gmacs
from workbench.bench.target import ResolvedTarget, artifact_target, register
from workbench.errors import BadInput
from workbench.events import Reporter
from workbench.home import Home
from workbench.store import Store

if TYPE_CHECKING:  # pragma: no cover
    from workbench.build import Artifact


@dataclass
class BenchRun:
    """The outcome of :func:`run_bench`: results for the target (and the baseline)."""

    run_id: int | None
    target: ResolvedTarget
    result: BenchResult
    baseline: BenchResult | None
    machine: dict[int, PrecisionLimit]  # threads -> the fp32 limit
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    limits: dict[int, dict[str, PrecisionLimit]] = field(default_factory=dict)

    @property
    def results(self) -> list[BenchResult]:
        return [r for r in (self.baseline, self.result) if r is not None]

    def as_dict(self) -> dict[str, Any]:
        sweet = self.result.sweet_spot
        budget = self.result.config.latency_budget_ms
        return {
            "ok": budget is None or sweet is not None,
            "run_id": self.run_id,
            "target": self.result.label,
            "backend": self.target.backend,
            "artifact": None if self.target.path is None else str(self.target.path),
            "artifact_key": self.target.artifact_key,
            "variant": self.target.variant,
            "dtype": self.target.dtype,
            "input_size": list(self.target.size),
            "seconds": round(self.seconds, 3),
            "headline": {k: v for k, (v, _u) in self.result.headline().items()},
            "latency_budget_ms": budget,
            "sweet_spot": None if sweet is None else sweet.as_dict(),
            "budget_met": None if budget is None else sweet is not None,
            "machine": {str(t): m.as_dict() for t, m in self.machine.items()},
            "limits": {str(t): {p: m.as_dict() for p, m in by.items()}
                       for t, by in self.limits.items()},
            "precision": self.result.precision,
            "runtime": self.result.runtime,
            "fingerprint": self.result.fingerprint,
            "inputs": self.result.config.inputs,
            "notes": self.notes,
            "results": [r.as_dict() for r in self.results],
        }


def measure_builds(builds: list[Artifact], input_size: tuple[int, int],
                   config: BenchConfig, home: Home, *, model: Any = None,
                   reporter: Reporter | None = None,
                   images: Any = None) -> list[BenchResult]:
    """The pipeline's bench stage in one call: every build (and torch eager of ``model``
    when given, as the baseline) in interleaved rounds, then on the roofline.

    Returns one result per target, baseline first; record each with
    :func:`workbench.bench.record_result` (or read ``rows``/``headline()`` yourself).
    """
    rep = reporter or Reporter()
    targets: list[BenchTarget] = []
    model_gmacs = None
    if model is not None:
        from workbench.bench.roofline import torch_gmacs

        model_gmacs = torch_gmacs(model, input_size)
        targets.append(torch_target(model, BASELINE_LABEL, count_macs=False))
    gmacs_of: dict[str, float | None] = {BASELINE_LABEL: model_gmacs}
    for b in builds:
        g = model_gmacs
        if b.path.suffix == ".onnx":
            try:
                g = onnx_gmacs(b.path, input_size)
            except BadInput:
                pass
        gmacs_of[b.name] = g
        targets.append(artifact_target(b.name, b.path, b.backend, g))
    results = benchmark_targets(targets, input_size, config, rep,
                                baseline=BASELINE_LABEL if model is not None else None,
                                images=images)
    if any(gmacs_of.values()):
        limits = limits_for(home.cache, list(config.threads), reporter=rep)
        for res in results:
            g = gmacs_of.get(res.label)
            if g and not apply_gpu_limits(res, g, home.cache, rep):
                apply_limits(res, g, limits)
    return results


def run_bench(target: ResolvedTarget, home: Home, config: BenchConfig, *,
              baseline: bool | None = None, record: bool = True,
              reporter: Reporter | None = None, data: str = "") -> BenchRun:
    """Benchmark ``target`` over ``config``'s grid, interleaved with torch eager when asked
    (``baseline=None``: whenever the variant is known), put it on the roofline and record
    it in the store as its own run."""
    rep = reporter or Reporter()
    config.validate()
    t0 = time.perf_counter()
    notes: list[str] = []
    if target.static_batch is not None and any(b != target.static_batch for b in config.batch_sizes):
        raise BadInput(f"{target.path}: the model's batch axis is fixed at {target.static_batch}; "
                       f"use --batch {target.static_batch} or export with a dynamic batch")
    if config.inputs == "real" and not data:
        raise BadInput("--inputs real needs --data DIR: the images to decode and preprocess")
    if baseline and not target.variant:
        raise BadInput("--baseline needs the model's variant: pass --variant (e.g. hrnet_w18)")
    want_baseline = bool(target.variant) if baseline is None else baseline
    if baseline is None and not target.variant:
        notes.append("no torch baseline: the variant is unknown (pass --variant to add one)")

    targets: list[BenchTarget] = []
    gmacs: float | None = None
    model_gmacs: float | None = None
    model = loaded = None
    eager = is_baseline(target.backend)
    if eager or want_baseline:
        loaded = load_baseline(target.variant)
        model = loaded.model
        from workbench.bench.roofline import variant_gmacs

        gmacs = model_gmacs = variant_gmacs(loaded.variant, target.size)
    if target.path is not None and target.path.suffix.lower() == ".onnx":
        try:
            graph_gmacs = onnx_gmacs(target.path, target.size)
        except BadInput as exc:
            notes.append(f"GMACs not counted from the graph: {exc}")
        else:
            if gmacs is not None and abs(graph_gmacs - gmacs) > 0.01 * gmacs:
                notes.append(f"the artifact counts {graph_gmacs:.3f} GMACs but {target.variant} "
                             f"has {gmacs:.3f}: is --variant right?")
            gmacs = graph_gmacs
    if gmacs is None and target.variant:
        from workbench.bench.roofline import variant_gmacs

        try:  # an OpenVINO IR, say: count the variant it was built from
            gmacs = variant_gmacs(target.variant, target.size)
        except (BadInput, KeyError, ValueError) as exc:
            notes.append(f"GMACs of {target.variant!r} not counted: {exc}")
    if gmacs is None:
        notes.append("no roofline: GMACs unknown (give an .onnx file or --variant)")

    if eager:
        assert model is not None
        targets.append(torch_target(model, target.label, count_macs=False))
    else:
        if want_baseline and target.variant:
            assert model is not None
            targets.append(torch_target(model, BASELINE_LABEL, count_macs=False))
        assert target.path is not None
        targets.append(artifact_target(target.label, target.path, target.backend, gmacs))
    if any(t.label == BASELINE_LABEL for t in targets) and target.label == BASELINE_LABEL:
        raise BadInput(f"bench: the target may not be called {BASELINE_LABEL!r}")

    limits = limits_for(home.cache, list(config.threads), reporter=rep) if gmacs else {}
    machine = {t: by["fp32"] for t, by in limits.items() if "fp32" in by}
    images = None
    if config.inputs == "real":
        from workbench.bench.real_inputs import real_inputs

        images = real_inputs(data, target.size, variant=target.variant,
                             count=max(config.batch_sizes), reporter=rep)
        notes.append(f"inputs: {len(images)} real image(s) from {data}, preprocessed, cycled "
                     "to fill each batch")


    def measure(run_id: int | None) -> BenchRun:
        base_label = BASELINE_LABEL if len(targets) == 2 else None
        results = benchmark_targets(targets, target.size, config, rep, baseline=base_label,
                                    images=images)
        for res in results:
            # the baseline is the variant's own torch model; the target is what its graph says
            own = model_gmacs if res.label == BASELINE_LABEL else gmacs
            if own and not apply_gpu_limits(res, own, home.cache, rep):
                apply_limits(res, own, limits)
        base = results[0] if len(results) == 2 else None
        return BenchRun(run_id, target, results[-1], base, machine, notes, time.perf_counter() - t0,
                        limits)

    if not record:
        run = measure(None)
    else:
        store = Store(home.db)
        with store.run(f"bench {target.label}", profile_json=json.dumps(
                {"bench": asdict(config), "target": str(target.path or target.variant),
                 "backend": target.backend}, default=str),
                cancelled=lambda: rep.cancelled) as stored:
            run = measure(stored.id)
            register(store, target)
            if loaded is not None and run.baseline is not None:
                record_result(store, stored.id, run.baseline,
                              register_baseline(store, loaded, target.size))
            main_key = target.artifact_key
            if loaded is not None and eager:
                main_key = register_baseline(store, loaded, target.size)
            record_result(store, stored.id, run.result, main_key)
            stored.summary = run.as_dict()
    for n in notes:
        rep.log(n, "warning")
    return run
