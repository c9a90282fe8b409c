"""One round of one grid point: every stream's predictor in its own thread, N requests
each, per-request latencies and the wall time of the whole round."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from workbench.backends import is_baseline
from workbench.events import Reporter
from workbench.runtime import Predictor


@dataclass
class _RoundOut:
    latencies_ms: list[float]
    images: int
    wall_s: float


def _prepare(predictors: Sequence[Predictor], threads_per_stream: int) -> None:
    """torch's intra-op pool is process-global: set it for this point before each round."""
    if any(is_baseline(getattr(p, "backend", "")) for p in predictors):
        import torch

        torch.set_num_threads(threads_per_stream)


def _run_round(predictors: Sequence[Predictor], x: np.ndarray, *, requests: int | None,
               duration_s: float | None, reporter: Reporter) -> _RoundOut:
    """Run ``requests`` requests (or until ``duration_s``) spread over the streams.

    Streams pull tickets from one shared counter, like benchmark_app's request queue, so a
    slow stream does not hold the round back by a fixed share of the work.
    """
    batch = int(x.shape[0])
    lock = threading.Lock()
    issued = 0
    latencies: list[float] = []
    errors: list[BaseException] = []
    deadline: list[float] = [math.inf]

    def take() -> bool:
        nonlocal issued
        with lock:
            if errors or reporter.cancelled:
                return False
            if requests is not None and issued >= requests:
                return False
            if requests is None and time.perf_counter() >= deadline[0]:
                return False
            issued += 1
            return True

    def worker(pred: Predictor) -> None:
        mine: list[float] = []
        try:
            # a device-aware predictor gets its input on its device once, and times itself
            # (CUDA events around a synchronised stream on a GPU; logits stay there)
            timed = getattr(pred, "time_run", None)
            xin = pred.to_device(x) if timed is not None else x  # type: ignore[attr-defined]
            while take():
                if timed is not None:
                    mine.append(float(timed(xin)))
                    continue
                t0 = time.perf_counter()
                pred.predict(x)
                mine.append((time.perf_counter() - t0) * 1e3)
        except BaseException as exc:  # re-raised in the caller's thread
            with lock:
                errors.append(exc)
        with lock:
            latencies.extend(mine)

    t_start = time.perf_counter()
    if duration_s is not None:
        deadline[0] = t_start + duration_s
    if len(predictors) == 1:
        worker(predictors[0])
    else:
        threads = [threading.Thread(target=worker, args=(p,), daemon=True) for p in predictors]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    wall = time.perf_counter() - t_start
    if errors:
        raise errors[0]
    reporter.check_cancelled()
    return _RoundOut(latencies, batch * len(latencies), wall)
