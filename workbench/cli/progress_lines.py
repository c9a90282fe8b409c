"""Progress for a pipe or a log file: one plain line per stage every N seconds.

A live progress bar is a terminal thing. Written to a pipe it is either nothing (rich
draws nothing without a terminal until it stops) or a stray spinner frame at the end, so
``build ... > log`` used to stay silent through minutes of calibration. Without a
terminal the printer uses this instead: every ``every`` seconds (``HRNET_WB_PROGRESS_EVERY``,
default 10) each running stage gets one line with done/total, rate and ETA, also while no
new progress arrives (a long quantization step still shows it is alive).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_EVERY_S = 10.0
ENV_EVERY = "HRNET_WB_PROGRESS_EVERY"


def progress_interval() -> float:
    """Seconds between plain progress lines: $HRNET_WB_PROGRESS_EVERY, else 10."""
    raw = os.environ.get(ENV_EVERY, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_EVERY_S
    except ValueError:
        value = DEFAULT_EVERY_S
    return value if value > 0 else DEFAULT_EVERY_S


def _clock(seconds: float) -> str:
    s = max(0, int(round(seconds)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


@dataclass
class _StageState:
    description: str = ""
    total: int | None = None
    unit: str = ""
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    first_done: int | None = None  # done at the first progress event (a resumed eval starts > 0)
    first_at: float = 0.0
    last_at: float = 0.0  # when ``done`` last moved: the rate is not diluted while finishing
    last_line: float = field(default_factory=time.monotonic)
    per_item: bool | None = None  # chosen once per stage and unit: "12 s/point" or "3.4 img/s"
    eta: float | None = None  # the last ETA printed, so a rise is said, not silent
    eta_at: float = 0.0


class ProgressLines:
    """Turns stage start / progress / finish into periodic plain lines through ``write``."""

    def __init__(self, write: Callable[[str], None], every: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.write = write
        self.every = every if every is not None else progress_interval()
        self.clock = clock
        self.stages: dict[str, _StageState] = {}
        self.finished_stages: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Start the ticker that prints for stages whose progress has gone quiet."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._tick, name="wb-progress-lines", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def _tick(self) -> None:
        while not self._stop.wait(min(1.0, self.every / 2)):
            now = self.clock()
            with self._lock:
                due = [(name, st) for name, st in self.stages.items() if now - st.last_line >= self.every]
                for name, st in due:
                    st.last_line = now
                    self.write(self.line(name, st, now))

    # -- events --------------------------------------------------------------------------
    def started(self, stage: str, description: str, total: int | None) -> None:
        with self._lock:
            self.stages[stage] = _StageState(description, total, last_line=self.clock(),
                                             started=self.clock())
            self.write(f"[{stage}] {description or 'started'}")  # before its first tick

    def touch(self, stage: str) -> None:
        """A stage is working (it logged) though it never announced itself: tick for it too,
        so a command without stage events (``build``) is not silent until its first count."""
        with self._lock:
            if stage and stage not in self.stages and stage not in self.finished_stages:
                now = self.clock()
                self.stages[stage] = _StageState(started=now, last_line=now)

    def progress(self, stage: str, done: int, total: int | None, unit: str) -> None:
        now = self.clock()
        with self._lock:
            st = self.stages.get(stage)
            if st is None:
                st = self.stages[stage] = _StageState(started=now, last_line=now)
            if unit != st.unit:  # another counter in the same stage (builds, then images)
                st.first_done, st.per_item, st.eta = None, None, None
            if done != st.done or unit != st.unit:
                st.last_at = now
            st.done, st.unit = done, unit
            if total is not None:
                st.total = total
            if st.first_done is None:
                st.first_done, st.first_at = done, now
            if now - st.last_line >= self.every:
                st.last_line = now
                self.write(self.line(stage, st, now))

    def finished(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.finished_stages.add(stage)
            st = self.stages.pop(stage, None)
            if st is not None and st.total:
                unit = f" {st.unit}" if st.unit else ""
                self.write(f"[{stage}] {st.total}/{st.total}{unit} done in {_clock(seconds)}")

    # -- text ----------------------------------------------------------------------------
    def line(self, stage: str, st: _StageState, now: float) -> str:
        elapsed = now - st.started
        if st.first_done is None:
            what = f" {st.description}" if st.description else ""
            return f"[{stage}]{what} running, {_clock(elapsed)} elapsed"
        unit = f" {st.unit}" if st.unit else ""
        parts = [f"[{stage}] {st.done}/{st.total if st.total is not None else '?'}{unit}"]
        span = st.last_at - st.first_at  # the rate as of the last count, not diluted by a wait
        rate = (st.done - st.first_done) / span if span > 0 else 0.0
        one = st.unit[:-1] if len(st.unit) > 2 and st.unit.endswith("s") else (st.unit or "item")
        if rate > 0 and st.per_item is None:  # slow counters (bench points) read better per item
            st.per_item = rate < 0.1
        if rate > 0 and st.per_item:
            parts.append(f"{1 / rate:.1f} s/{one}")
        elif rate > 0:
            parts.append(f"{rate:.1f}{unit}/s")
        if st.total and st.done >= st.total:
            parts.append(f"finishing, {_clock(elapsed)} elapsed")
        elif st.total and rate > 0:
            wait = now - st.last_at
            eta = max(0.0, (st.total - st.done) / rate - wait)  # counts down between counts
            was = None if st.eta is None else st.eta - (now - st.eta_at)
            rise = was is not None and eta > 1.2 * was + 5
            parts.append(f"ETA {_clock(eta)}" + (f", up from {_clock(was)}: slower than so far"
                                                   if rise and was is not None else ""))
            if wait > 2 / rate:  # this item takes longer than the ones before: say so
                parts.append(f"waiting {_clock(wait)} on this {one}")
            st.eta, st.eta_at = eta, now
        else:
            parts.append(f"{_clock(elapsed)} elapsed")
        return "  ".join(parts)
