"""The evaluator's decode threads: sized from measured cost, kept out of inference's way.

On a CPU backend, decoding and inference share the same cores. Inference runs in a
thread pool that meets at a barrier after every operator, so a decode thread that
preempts one inference thread stalls all of them: the eval loses more than the decode
CPU it spends. Two measures keep that loss near the decode cost itself:

* **Sized from measurement.** The pool starts with up to ``max_workers`` threads; after the
  first batches it measures decode CPU per image (each worker's ``thread_time``) against
  inference wall time per image and lets only as many decode at once as keep the model
  fed with margin (``ceil(1.5 × decode / inference)``, at least 1). On two cores with int8
  hrnet_w18 that is one thread; a fast GPU model gets them all.
* **Below inference's priority.** Decode threads lower their own nice value
  (``HRNET_WB_DECODE_NICE``, default 5; 0 leaves it alone), so the scheduler prefers the
  inference threads and decoding fills the gaps between operators. A decode thread that
  falls behind makes the model wait, which frees the cores for it: the ordering can
  slow decoding down, never stop it.

Where inference already keeps every core busy (a CPU backend with as many threads as
there are cores), overlapping cannot win: a decode thread can only take a core from an
inference thread, and the others then spin at the barrier. There the evaluator decodes in
**bursts** instead (``decode_schedule``): the next batch is decoded on all cores between
two inference calls, straight into the batch buffer, so the two never compete. Its cost
is the decode CPU divided by the cores, the least it can be. ``HRNET_WB_DECODE_SCHEDULE``
(``burst`` | ``overlap``) overrides the choice.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_NICE = 5
ENV_NICE = "HRNET_WB_DECODE_NICE"
ENV_SCHEDULE = "HRNET_WB_DECODE_SCHEDULE"
SCHEDULES = ("burst", "overlap")
HEADROOM = 1.5


def decode_nice() -> int:
    raw = os.environ.get(ENV_NICE, "").strip()
    try:
        return max(0, min(19, int(raw))) if raw else DEFAULT_NICE
    except ValueError:
        return DEFAULT_NICE


def decode_schedule(inference_cpu_threads: int, cpus: int) -> str:
    """``burst`` when inference keeps every usable core busy, else ``overlap`` (see above).

    ``HRNET_WB_DECODE_SCHEDULE=burst|overlap`` overrides; any other value is ignored."""
    forced = os.environ.get(ENV_SCHEDULE, "").strip().lower()
    if forced in SCHEDULES:
        return forced
    return "burst" if cpus > 0 and inference_cpu_threads >= cpus else "overlap"


class _Gate:
    """A semaphore whose number of permits can change while threads wait on it."""

    def __init__(self, permits: int) -> None:
        self.permits = permits
        self.active = 0
        self._cond = threading.Condition()

    def set_permits(self, permits: int) -> None:
        with self._cond:
            self.permits = max(1, permits)
            self._cond.notify_all()

    def __enter__(self) -> None:
        with self._cond:
            while self.active >= self.permits:
                self._cond.wait()
            self.active += 1

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self.active -= 1
            self._cond.notify()


class DecodePool:
    """A thread pool for decoding that measures its own CPU cost per task."""

    def __init__(self, max_workers: int, nice: int | None = None) -> None:
        self.max_workers = max(1, max_workers)
        self.nice = decode_nice() if nice is None else nice
        self._gate = _Gate(self.max_workers)
        self._lock = threading.Lock()
        self.cpu_s = 0.0
        self.tasks = 0
        self.sized: dict[str, Any] = {}
        self._pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="wb-decode",
                                        initializer=self._lower_priority)

    def _lower_priority(self) -> None:
        if self.nice <= 0 or not hasattr(os, "setpriority"):
            return
        try:  # on Linux a thread is a task: this renices only the calling decode thread
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + self.nice)
        except (OSError, AttributeError):  # pragma: no cover - not permitted / not Linux
            pass

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        def task() -> T:
            with self._gate:
                t0 = time.thread_time()
                try:
                    return fn(*args)
                finally:
                    spent = time.thread_time() - t0
                    with self._lock:
                        self.cpu_s += spent
                        self.tasks += 1

        return self._pool.submit(task)

    @property
    def cpu_per_task_s(self) -> float:
        with self._lock:
            return self.cpu_s / self.tasks if self.tasks else 0.0

    def size_for(self, inference_s_per_image: float) -> int:
        """Let ``ceil(HEADROOM × decode / inference)`` threads decode at once (1..max)."""
        per = self.cpu_per_task_s
        if per <= 0 or inference_s_per_image <= 0:
            return self._gate.permits
        n = max(1, min(self.max_workers, math.ceil(HEADROOM * per / inference_s_per_image)))
        self._gate.set_permits(n)
        self.sized = {"decode_ms_per_image": round(1000 * per, 3),
                      "inference_ms_per_image": round(1000 * inference_s_per_image, 3),
                      "decode_threads": n, "max_threads": self.max_workers, "nice": self.nice}
        return n

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
