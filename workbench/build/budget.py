"""The accuracy-budget search: build int8, then keep the worst nodes (fusion Adds first)
in fp32 until top-1 agreement with fp32 on held-out images meets the target."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.backends import DEFAULT_BACKEND
from workbench.build.sensitivity import SensitivityReport, artifact_sensitivity
from workbench.errors import BadInput, CheckFailed
from workbench.events import Reporter


@dataclass
class BudgetStep:
    excluded: int
    agreement: float
    artifact: str


@dataclass
class BudgetResult:
    """What the accuracy-budget search did and what it cost."""

    target_agreement: float
    baseline_agreement: float
    final_agreement: float
    excluded_nodes: list[str]
    steps: list[BudgetStep]
    images: int
    fp32_ms: float
    int8_ms: float
    final_ms: float
    artifact: Any = None  # the chosen Artifact
    sensitivity: SensitivityReport | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target_agreement": self.target_agreement, "baseline_agreement": self.baseline_agreement,
            "final_agreement": self.final_agreement, "excluded_nodes": self.excluded_nodes,
            "steps": [asdict(s) for s in self.steps], "images": self.images,
            "latency_bs1_ms": {"fp32": self.fp32_ms, "int8": self.int8_ms, "final": self.final_ms},
            "speed_cost": (self.final_ms / self.int8_ms - 1) if self.int8_ms else None,
            "artifact": None if self.artifact is None else self.artifact.name,
            "notes": self.notes,
        }


def top1(path: Path, backend: str, x: np.ndarray, threads: int = 0, batch: int = 16) -> np.ndarray:
    from workbench.backends import open_predictor

    p = open_predictor(path, backend, threads)
    return np.concatenate([p.predict(x[i:i + batch]).argmax(1) for i in range(0, len(x), batch)])


def latency_ms(path: Path, backend: str, x1: np.ndarray, threads: int = 0, runs: int = 15) -> float:
    """bs1 median latency; a quick figure for comparing builds of one model, not a benchmark."""
    from workbench.backends import open_predictor

    p = open_predictor(path, backend, threads)
    for _ in range(3):
        p.predict(x1)
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        p.predict(x1)
        ts.append((time.perf_counter() - t) * 1000)
    return float(np.median(ts))


def search_exclusions(build: Any, fp32_path: Path, agreement_x: np.ndarray, target: float,
                      sensitivity: SensitivityReport, *, backend: str, threads: int = 0,
                      max_steps: int = 8, reporter: Reporter | None = None) -> BudgetResult:
    """Exclude nodes (in ``sensitivity.exclusion_order()``) until top-1 agreement ≥ ``target``.

    ``build(exclude: tuple[str, ...]) -> Artifact`` rebuilds from cached ranges (a quantize
    call, not a calibration pass). Exclusion counts grow geometrically (1, 2, 4, ...), and
    the last step excludes every candidate, so the search costs at most ``max_steps`` builds.
    Raises :class:`CheckFailed` if even the last step misses the target.
    """
    rep = reporter or Reporter()
    ref = top1(fp32_path, DEFAULT_BACKEND, agreement_x, threads)
    order = sensitivity.exclusion_order()
    base = build(())
    base_pred = top1(Path(base.path), backend, agreement_x, threads)
    base_agree = float((base_pred == ref).mean())
    steps = [BudgetStep(0, base_agree, base.name)]
    rep.log(f"accuracy budget: int8 agrees with fp32 on {base_agree:.2%} of {len(ref)} images "
            f"(target {target:.2%})")
    chosen, chosen_agree, excluded = base, base_agree, []
    counts: list[int] = []
    k = 1
    while k < len(order) and len(counts) < max_steps - 1:
        counts.append(k)
        k *= 2
    counts.append(len(order))
    if base_agree < target:
        for k in counts:
            rep.check_cancelled()
            art = build(tuple(order[:k]))
            agree = float((top1(Path(art.path), backend, agreement_x, threads) == ref).mean())
            steps.append(BudgetStep(k, agree, art.name))
            rep.log(f"accuracy budget: {k} node(s) in fp32 -> agreement {agree:.2%}")
            chosen, chosen_agree, excluded = art, agree, order[:k]
            if agree >= target:
                break
    x1 = agreement_x[:1]
    fp32_ms = latency_ms(fp32_path, DEFAULT_BACKEND, x1, threads)
    int8_ms = latency_ms(Path(base.path), backend, x1, threads)
    final_ms = int8_ms if chosen is base else latency_ms(Path(chosen.path), backend, x1, threads)
    res = BudgetResult(target, base_agree, chosen_agree, list(excluded), steps, len(ref),
                       round(fp32_ms, 3), round(int8_ms, 3), round(final_ms, 3), chosen, sensitivity)
    if chosen_agree < target:
        raise CheckFailed(f"accuracy budget: best agreement {chosen_agree:.2%} with all "
                          f"{len(order)} candidate nodes in fp32 is below the target {target:.2%}")
    return res


def build_with_accuracy_budget(onnx_path: Path, recipe: Any, *, agreement_samples: Sequence[Any],
                               min_agreement: float, sensitivity_images: int = 8,
                               threads: int = 0, reporter: Reporter | None = None,
                               **build_kwargs: Any) -> BudgetResult:
    """Build ``recipe`` (int8), then keep nodes in fp32 until top-1 agreement with fp32 on
    ``agreement_samples`` reaches ``min_agreement`` (a fraction, e.g. 0.99).

    ``agreement_samples`` should be held out from calibration; ``build_kwargs`` are
    :func:`workbench.build.build_artifact`'s keyword arguments. Every intermediate build is a
    normal cached artifact, so a repeated search costs only the agreement checks.
    """
    import dataclasses

    from workbench.build import build_artifact, default_preprocessor
    from workbench.build.calibration import iter_batches

    rep = reporter or Reporter()
    if recipe.dtype != "int8":
        raise BadInput("--accuracy-budget applies to int8 builds")
    if not 0 < min_agreement <= 1:
        raise BadInput(f"target agreement {min_agreement}: must be in (0, 1]")
    from workbench.backends import get_backend

    if not get_backend(recipe.backend).runs_on_cpu:
        raise BadInput("the accuracy-budget search measures agreement on this CPU; "
                       f"{recipe.backend} artifacts only run on a GPU")

    def build(exclude: tuple[str, ...]) -> Any:
        r = dataclasses.replace(recipe, exclude_nodes=exclude)
        return build_artifact(onnx_path, r, reporter=rep, **build_kwargs)

    base = build(())
    pre = build_kwargs.get("preprocessor") or default_preprocessor(tuple(build_kwargs["input_size"]))
    x = np.concatenate([b for _, b in iter_batches(list(agreement_samples), pre, 16, rep)])
    if len(x) == 0:
        raise BadInput("accuracy budget: none of the agreement images could be decoded")
    sens = artifact_sensitivity(base.dir, base.meta, images=sensitivity_images,
                                preprocessor=build_kwargs.get("preprocessor"),
                                home=build_kwargs.get("home"), reporter=rep)
    return search_exclusions(build, Path(onnx_path), x, min_agreement, sens,
                             backend=recipe.backend, threads=threads, reporter=rep)
