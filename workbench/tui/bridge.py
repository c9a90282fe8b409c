"""The bridge: pipeline events (plain dataclasses) → Textual messages.

The pipeline runs in a worker thread (and, by default, the stages in a child process);
the sink built here is called from that thread and only ever calls ``post_message``,
which is thread-safe. Progress events arrive at a high rate during evaluation and
benchmarking, so :class:`ProgressMessage` implements ``can_replace``: a queued progress
update for the same job and stage is superseded by a newer one, and a flood collapses to
the latest value instead of backing up the UI.
"""

from __future__ import annotations

from textual.message import Message
from textual.message_pump import MessagePump

from workbench.events import Event, Progress


class PipelineMessage(Message):
    """One pipeline event for one queued job."""

    def __init__(self, job_id: int, event: Event) -> None:
        super().__init__()
        self.job_id = job_id
        self.event = event


class ProgressMessage(PipelineMessage):
    """A progress update; a newer one for the same job and stage supersedes it."""

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, ProgressMessage)
            and message.job_id == self.job_id
            and message.event.stage == self.event.stage
        )


def message_for(job_id: int, event: Event) -> PipelineMessage:
    if isinstance(event, Progress):
        return ProgressMessage(job_id, event)
    return PipelineMessage(job_id, event)


def make_sink(target: MessagePump, job_id: int):  # type: ignore[no-untyped-def]
    """A ``workbench.events.Sink`` that posts each event to ``target`` as a message."""

    def sink(event: Event) -> None:
        target.post_message(message_for(job_id, event))

    return sink
