"""The ``hrnet-wb`` command line. Command modules register on ``workbench.cli.app.app``
when imported. typer is imported only off the plain ``hrnet-wb tui`` path (~15 ms of the
first frame's budget), so nothing here imports it at module level."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

_loaded = False


def _load_commands(only: str = "") -> None:
    """Import the command modules (each registers its commands). With ``only``, just the
    root callback and that one module (``hrnet-wb tui``: the first frame's budget)."""
    global _loaded
    if _loaded:
        return
    import workbench.cli as pkg

    if only:
        importlib.import_module("workbench.cli.root_cmd")
        importlib.import_module(f"workbench.cli.{only}")
        return
    import pkgutil

    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if mod.name.endswith("_cmd"):
            importlib.import_module(f"workbench.cli.{mod.name}")
    _loaded = True


def _quick_tui(args: list[str]) -> dict[str, str] | None:
    """``hrnet-wb tui`` with only ``--home`` and ``--profile``/``-p`` (``--opt value`` or
    ``--opt=value``): those options; anything else (``--help``, ``--json``, a typo) is None
    and goes to typer. typer's parser imports pydantic (~0.2 s) before the first frame."""
    names = {"--home": "home", "--profile": "profile", "-p": "profile"}
    found: dict[str, str] = {}
    rest = list(args)
    while rest:
        opt, sep, value = rest.pop(0).partition("=")
        if opt not in names or names[opt] in found:
            return None
        if not sep:
            if not rest or rest[0].startswith("-"):
                return None
            value = rest.pop(0)
        if not value:
            return None
        found[names[opt]] = value
    return found


def main() -> None:
    quick = {} if len(sys.argv) == 1 else (
        _quick_tui(sys.argv[2:]) if sys.argv[1] == "tui" else None)
    if quick is not None:
        # `hrnet-wb` or a plain `hrnet-wb tui --home H --profile P`: straight to the TUI,
        # without typer (the first frame's budget is 1.5× a bare Textual app's).
        from workbench.boundary import describe, one_line

        try:
            from workbench.tui import launch

            profile = quick.get("profile")
            launch(home=quick.get("home"),
                   profile=str(Path(profile).resolve()) if profile else None)
        except KeyboardInterrupt:
            raise SystemExit(130) from None
        except Exception as exc:  # the same boundary as every command: one line, a code
            f = describe(exc)
            sys.stderr.write(f"error: {one_line(f.message)}\n")
            raise SystemExit(f.exit_code) from None
        return
    # `hrnet-wb tui ...` loads only the tui module (docs/NOTES.md §7).
    from workbench.cli.app import app

    _load_commands("tui_cmd" if sys.argv[1] == "tui" else "")
    app()
