"""The runtime contract under every backend: the :class:`Predictor` protocol and the one
thread rule (0 = this process's physical cores).

Evaluation, benchmarking and build-time checks all run models through a
:class:`Predictor` (from ``workbench.backends``), so a figure from one stage is comparable
with a figure from another.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from workbench.hardware import physical_cores, usable_cpus

# The CPU counts live with the rest of what we know about the CPU (workbench.hardware).
__all__ = ["Predictor", "physical_cores", "resolve_threads", "threads_per_stream", "usable_cpus"]


class Predictor(Protocol):
    """Run a float32 NCHW batch, return float32 logits (N, classes).

    A CPU predictor also has ``cpu_threads``: how many CPU threads its inference keeps busy
    (0 or absent where inference runs elsewhere, e.g. on a GPU)."""

    backend: str

    def predict(self, batch: np.ndarray) -> np.ndarray: ...


def resolve_threads(threads: int) -> int:
    return threads if threads > 0 else physical_cores()


def threads_per_stream(threads: int, streams: int) -> int:
    """The thread budget is shared: N streams (sessions) get total/N intra-op threads each."""
    return max(1, resolve_threads(threads) // max(1, streams))
