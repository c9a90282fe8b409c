"""The evaluator's decode pool: sized from measured decode vs inference cost, below
inference's priority."""

from __future__ import annotations

import os
import threading
import time

import pytest

from workbench.decode_pool import DecodePool, decode_schedule


def _burn(ms: float) -> None:
    end = time.thread_time() + ms / 1000
    while time.thread_time() < end:
        pass


def test_pool_is_sized_from_measured_cost_and_never_exceeds_it():
    pool = DecodePool(4, nice=0)
    try:
        for f in [pool.submit(_burn, 3) for _ in range(8)]:
            f.result()
        assert pool.cpu_per_task_s == pytest.approx(0.003, rel=0.5)
        assert pool.size_for(0.100) == 1  # 3 ms of decode per 100 ms of inference: one thread
        assert pool.sized["decode_threads"] == 1 and pool.sized["max_threads"] == 4
        lock, active, peak = threading.Lock(), [0], [0]

        def task() -> None:
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            _burn(2)
            with lock:
                active[0] -= 1

        for f in [pool.submit(task) for _ in range(12)]:
            f.result()
        assert peak[0] == 1
        assert pool.size_for(0.001) == 4  # inference faster than decode: every thread
    finally:
        pool.shutdown()


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread nice is Linux")
def test_decode_threads_run_below_the_callers_priority():
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    pool = DecodePool(1, nice=5)
    try:
        seen = pool.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())).result()
    finally:
        pool.shutdown()
    assert seen == min(19, base + 5)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # caller untouched


def test_burst_only_when_inference_keeps_every_core_busy(monkeypatch):
    monkeypatch.delenv("HRNET_WB_DECODE_SCHEDULE", raising=False)
    assert decode_schedule(2, 2) == "burst" and decode_schedule(4, 2) == "burst"
    assert decode_schedule(1, 2) == "overlap"  # a core is free: decode there, in parallel
    assert decode_schedule(0, 2) == "overlap"  # inference runs elsewhere (a GPU)
    monkeypatch.setenv("HRNET_WB_DECODE_SCHEDULE", "overlap")
    assert decode_schedule(2, 2) == "overlap"
    monkeypatch.setenv("HRNET_WB_DECODE_SCHEDULE", "sideways")  # unknown: ignored
    assert decode_schedule(2, 2) == "burst"
