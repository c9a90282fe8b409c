"""The runtime contract under every backend: the :class:`Predictor` protocol and the one
thread rule (0 = this process's physical cores).

Evaluation, benchmarking and build-time checks all run models through a
:class:`Predictor` (from ``workbench.backends``), so a figure from one stage is comparable
with a figure from another.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np


class Predictor(Protocol):
    """Run a float32 NCHW batch, return float32 logits (N, classes)."""

    backend: str

    def predict(self, batch: np.ndarray) -> np.ndarray: ...


def usable_cpus() -> int:
    """Logical CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def physical_cores() -> int:
    """Physical cores available to this process (affinity-aware; SMT siblings not counted)."""
    return max(1, usable_cpus() // _smt_per_core())


def _smt_per_core() -> int:
    try:
        text = Path("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list").read_text().strip()
    except OSError:
        return 1
    count = 0
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            count += int(b) - int(a) + 1
        elif part:
            count += 1
    return max(1, count)


def resolve_threads(threads: int) -> int:
    return threads if threads > 0 else physical_cores()
