"""A queued run of the TUI: what the app's queue holds and the Build pane lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from textual.worker import Worker

    from workbench.profile import Profile
    from workbench.tui.runner import PipelineJob


@dataclass
class Job:
    """One queued run of a snapshot of the profile."""

    id: int
    label: str
    profile: Profile
    profile_path: str
    status: str = "queued"  # queued | running | cancelling | ok | failed | cancelled
    run_id: int | None = None
    pipeline: PipelineJob | None = None
    worker: Worker[Any] | None = None
    error: str = ""
