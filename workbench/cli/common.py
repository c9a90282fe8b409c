"""Shared CLI plumbing: options, error → exit-code mapping, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from workbench.errors import WorkbenchError

T = TypeVar("T")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one machine-readable JSON record.")]
HomeOpt = Annotated[
    str | None,
    typer.Option("--home", help="State folder (store, artifacts, runs). Default: $HRNET_WB_HOME or the user data dir.",
                 show_default=False),
]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int, as_json: bool) -> typer.Exit:
    """Print a one-line error (or a JSON record) and return the Exit to raise."""
    if as_json:
        print_json({"ok": False, "error": message, "exit_code": code})
    else:
        sys.stderr.write(f"error: {message}\n")
    return typer.Exit(code)


def guarded(fn: Callable[[], T], as_json: bool) -> T:
    """Run ``fn``; turn workbench errors into one line and the right exit code."""
    try:
        return fn()
    except WorkbenchError as exc:
        raise fail(str(exc), exc.exit_code, as_json) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130, as_json) from None
