"""Events: the one stream that both the CLI printer and the TUI bridge consume.

Stages never print. They call the methods of a :class:`Reporter`, which builds these
frozen dataclasses and hands them to whatever sink the front end attached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import Cancelled


@dataclass(frozen=True)
class Event:
    stage: str


@dataclass(frozen=True)
class RunStarted(Event):
    run_id: int
    profile_path: str
    stages: tuple[str, ...] = ()


@dataclass(frozen=True)
class StageStarted(Event):
    description: str = ""
    total: int | None = None


@dataclass(frozen=True)
class Progress(Event):
    done: int
    total: int | None = None
    unit: str = "it"


@dataclass(frozen=True)
class LogLine(Event):
    message: str
    level: str = "info"  # debug | info | warning | error


@dataclass(frozen=True)
class ArtifactWritten(Event):
    kind: str  # onnx | artifact | results | report ...
    path: str
    name: str = ""
    cached: bool = False


@dataclass(frozen=True)
class MetricRecorded(Event):
    build: str
    name: str
    value: float
    unit: str = ""


@dataclass(frozen=True)
class StageFinished(Event):
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failed(Event):
    message: str
    exit_code: int = 1


@dataclass(frozen=True)
class RunFinished(Event):
    run_id: int
    status: str  # ok | failed | interrupted | cancelled
    seconds: float
    record: dict[str, Any] = field(default_factory=dict)


Sink = Callable[[Event], None]


def _discard(_event: Event) -> None:
    return None


class Reporter:
    """What a stage holds to talk to the outside: emit events, check for cancellation.

    One reporter serves a whole run; ``stage(name)`` returns a copy bound to a stage name.
    """

    def __init__(
        self,
        sink: Sink | None = None,
        cancel: threading.Event | None = None,
        stage: str = "",
        reason: list[str] | None = None,
    ) -> None:
        self.sink: Sink = sink or _discard
        self.cancel_event = cancel or threading.Event()
        self.stage_name = stage
        # why a cancel happened ("cancelled: SIGTERM" ...), shared with every stage's copy
        self.reason = reason if reason is not None else ["cancelled by the user"]

    def stage(self, name: str) -> Reporter:
        return Reporter(self.sink, self.cancel_event, name, self.reason)

    def emit(self, event: Event) -> None:
        self.sink(event)

    def log(self, message: str, level: str = "info") -> None:
        self.emit(LogLine(self.stage_name, message, level))

    def progress(self, done: int, total: int | None = None, unit: str = "it") -> None:
        self.emit(Progress(self.stage_name, done, total, unit))

    def metric(self, build: str, name: str, value: float, unit: str = "") -> None:
        self.emit(MetricRecorded(self.stage_name, build, name, float(value), unit))

    def artifact(self, kind: str, path: str, name: str = "", cached: bool = False) -> None:
        self.emit(ArtifactWritten(self.stage_name, kind, str(path), name, cached))

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        """Raise :class:`Cancelled` if the user asked to stop. Call it inside every loop."""
        if self.cancel_event.is_set():
            raise Cancelled(self.reason[0])


class StageTimer:
    """Context manager that emits StageStarted/StageFinished around a block."""

    def __init__(self, reporter: Reporter, description: str = "", total: int | None = None):
        self.reporter = reporter
        self.description = description
        self.total = total
        self.summary: dict[str, Any] = {}
        self.seconds = 0.0

    def __enter__(self) -> StageTimer:
        self._t0 = time.perf_counter()
        self.reporter.emit(StageStarted(self.reporter.stage_name, self.description, self.total))
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.seconds = time.perf_counter() - self._t0
        if exc_type is None:
            self.reporter.emit(StageFinished(self.reporter.stage_name, self.seconds, self.summary))
