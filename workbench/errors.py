"""Error types shared by the core and both front ends.

The CLI maps them to exit codes (``BadInput`` → 2, ``CheckFailed`` → 1) and prints
one line, never a traceback; the TUI shows them in its error modal.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class: something the user can act on, with a one-line message."""

    exit_code = 1


class BadInput(WorkbenchError):
    """The user gave us something we cannot use: a bad profile, file, size or name."""

    exit_code = 2


class CheckFailed(WorkbenchError):
    """The work ran, but a gate the user asked for failed (parity, accuracy budget...)."""

    exit_code = 1


class Cancelled(WorkbenchError):
    """The user cancelled; partial outputs were discarded."""

    exit_code = 130


class BackendUnavailable(WorkbenchError):
    """A runtime or device that a recipe needs is not present here. Never faked."""

    exit_code = 2
