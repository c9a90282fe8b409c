"""The ``hrnet-wb`` command line. Command modules register on :data:`app` when imported."""

from __future__ import annotations

import importlib
import pkgutil
import sys

from workbench.cli.app import app

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
    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if mod.name.endswith("_cmd"):
            importlib.import_module(f"workbench.cli.{mod.name}")
    _loaded = True


def main() -> None:
    if len(sys.argv) == 1:
        # Bare `hrnet-wb`: straight to the TUI, without building the typer app first
        # (the first frame has a 1.5 s budget).
        from workbench.boundary import describe, one_line

        try:
            from workbench.tui import launch

            launch()
        except KeyboardInterrupt:
            raise SystemExit(130) from None
        except Exception as exc:  # the same boundary as every command: one line, a code
            f = describe(exc)
            sys.stderr.write(f"error: {one_line(f.message)}\n")
            raise SystemExit(f.exit_code) from None
        return
    # `hrnet-wb tui ...` loads only the tui module (docs/NOTES.md §7).
    _load_commands("tui_cmd" if sys.argv[1] == "tui" else "")
    app()
