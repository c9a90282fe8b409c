"""A run's store writes, kept in order for a driver to replay under its own run id.

A sweep row computed on a Ray node runs the same stages as ``hrnet-wb run`` but cannot
reach the driver's store: its stages write into :class:`PendingWrites`, and the driver
replays them (:meth:`PendingWrites.replay`) into its store, so both engines record a row
with the very same rows (artifacts, metrics, evals, runtime settings).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class RunWrites(Protocol):
    """What a stage writes about a run: :class:`workbench.store.Store`, or the pending
    copy of its writes below."""

    @property
    def add_artifact(self) -> Callable[..., None]: ...

    @property
    def add_metric(self) -> Callable[..., None]: ...

    @property
    def add_eval(self) -> Callable[..., None]: ...

    @property
    def add_runtime(self) -> Callable[..., None]: ...

class PendingWrites:
    """The write half of :class:`workbench.store.Store`'s run records, deferred."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def add_artifact(self, *args: Any, **kwargs: Any) -> None:
        self.writes.append(("add_artifact", args, kwargs))

    def add_metric(self, run_id: int, *args: Any, **kwargs: Any) -> None:
        self.writes.append(("add_metric", args, kwargs))

    def add_eval(self, run_id: int, *args: Any, **kwargs: Any) -> None:
        self.writes.append(("add_eval", args, kwargs))

    def add_runtime(self, run_id: int, *args: Any, **kwargs: Any) -> None:
        self.writes.append(("add_runtime", args, kwargs))

    def replay(self, store: Any, run_id: int, paths: dict[str, str] | None = None) -> None:
        """Write everything into ``store`` under ``run_id``; ``paths`` maps an artifact key
        to where the driver holds its file (a node's path means nothing here)."""
        for name, args, kwargs in self.writes:
            if name == "add_artifact":
                key, label, kind, path, *rest = args
                store.add_artifact(key, label, kind, (paths or {}).get(key, path), *rest, **kwargs)
            else:
                getattr(store, name)(run_id, *args, **kwargs)
