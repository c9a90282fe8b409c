"""The runtime contract under every backend: the :class:`Predictor` protocol and the one
thread rule (0 = this process's physical cores).

Evaluation, benchmarking and build-time checks all run models through a
:class:`Predictor` (from ``workbench.backends``), so a figure from one stage is comparable
with a figure from another.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from workbench.hardware import physical_cores, usable_cpus

# The CPU counts live with the rest of what we know about the CPU (workbench.hardware).
__all__ = ["Predictor", "physical_cores", "resolve_threads", "takes_uint8", "threads_per_stream",
           "uint8_table", "usable_cpus"]


class Predictor(Protocol):
    """Run a float32 NCHW batch, return float32 logits (N, classes).

    A CPU predictor also has ``cpu_threads``: how many CPU threads its inference keeps busy
    (0 or absent where inference runs elsewhere, e.g. on a GPU).

    A predictor that normalises where inference runs (the GPU backends, through
    ``workbench.backends.device_predictor``) has ``normalizes_uint8 = True`` and
    ``set_normalization(mean, std)``: after that call ``predict`` also takes uint8 NCHW
    pixels and looks them up in :func:`uint8_table`, so only bytes cross to the device and
    the values equal the CPU path's float32 batch bit for bit. Absent means False."""

    backend: str

    def predict(self, batch: np.ndarray) -> np.ndarray: ...


def resolve_threads(threads: int) -> int:
    return threads if threads > 0 else physical_cores()


def threads_per_stream(threads: int, streams: int) -> int:
    """The thread budget is shared: N streams (sessions) get total/N intra-op threads each."""
    return max(1, resolve_threads(threads) // max(1, streams))


def takes_uint8(predictor: object) -> bool:
    """The capability above (False for a predictor that does not declare it)."""
    return bool(getattr(predictor, "normalizes_uint8", False))


def uint8_table(mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """(3, 256) float32: each uint8 value per channel, normalised with the float32 ops of
    ToTensor + Normalize ((x / 255 - mean) / std). The CPU path looks pixels up in it, and a
    predictor that normalises on its device gathers from the same table."""
    m = np.asarray(mean, dtype=np.float32).reshape(3, 1)
    s = np.asarray(std, dtype=np.float32).reshape(3, 1)
    return ((np.arange(256, dtype=np.float32)[None, :] / np.float32(255.0)) - m) / s
