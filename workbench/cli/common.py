"""Shared CLI plumbing: options, error → exit-code mapping, JSON output."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

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


@contextmanager
def failing(as_json: bool, interrupted: str = "interrupted") -> Iterator[None]:
    """A command's work: a WorkbenchError leaves as its one line and exit code, Ctrl-C as
    ``interrupted`` (saying what to do next) and exit 130."""
    from workbench.errors import WorkbenchError

    try:
        yield
    except WorkbenchError as exc:
        raise fail(str(exc), exc.exit_code, as_json) from None
    except KeyboardInterrupt:
        raise fail(interrupted, 130, as_json) from None


def _is_usage_error(exc: BaseException) -> bool:
    """click/typer usage errors (unknown option, bad int, missing argument) carry their own
    message and exit code; typer vendors click, so they are recognised by shape."""
    return hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)


def report(exc: BaseException, as_json: bool, argv: Sequence[str] | None = None) -> typer.Exit:
    """The error boundary: print ``exc`` as one line (or a JSON record); return the Exit.

    Internal errors (exit 3) write a crash log and name it; ``HRNET_WB_DEBUG=1`` also
    prints the traceback to stderr.
    """
    from workbench.boundary import EXIT_BAD_INPUT, debug_enabled, describe, one_line

    if _is_usage_error(exc):
        code = int(getattr(exc, "exit_code", EXIT_BAD_INPUT)) or EXIT_BAD_INPUT
        msg = one_line(exc.format_message())  # type: ignore[attr-defined]
        ctx = getattr(exc, "ctx", None)
        path = getattr(ctx, "command_path", "") if ctx is not None else ""
        hint = f" (see {path} --help)" if path else ""
        return fail(f"{msg}{hint}", code, as_json)
    f = describe(exc, list(argv) if argv is not None else None)
    if debug_enabled():
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    return fail(f.message, f.exit_code, as_json)


def guarded(fn: Callable[[], T], as_json: bool) -> T:
    """Run ``fn``; turn *every* exception into one line and the right exit code."""
    try:
        return fn()
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except BaseException as exc:
        raise report(exc, as_json) from None


def _wants_json(argv: Sequence[str]) -> bool:
    head = list(argv)
    if "--" in head:
        head = head[: head.index("--")]
    return "--json" in head


class GuardedGroup(TyperGroup):
    """The typer group behind ``hrnet-wb``: the outermost error boundary.

    Whatever escapes a command (or the argument parser) becomes one line on stderr, or
    ``{"ok": false, "error": ..., "exit_code": N}`` on stdout under ``--json``; the same
    happens for usage errors, which click would print as a multi-line box.
    """

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        from workbench.boundary import sigterm_as_interrupt
        from workbench.cli.help_text import tidy

        argv = list(sys.argv[1:] if args is None else args)
        as_json = _wants_json(argv)
        try:
            tidy(self)
            with sigterm_as_interrupt():
                rv = super().main(args=argv, prog_name=prog_name, complete_var=complete_var,
                                  standalone_mode=False, windows_expand_args=windows_expand_args,
                                  **extra)
        except SystemExit:
            raise
        except typer.Abort:
            rv = fail("aborted", 1, as_json).exit_code
        except typer.Exit as e:
            rv = e.exit_code
        except BaseException as exc:
            rv = report(exc, as_json, argv).exit_code
        code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            sys.exit(code)
        return rv
