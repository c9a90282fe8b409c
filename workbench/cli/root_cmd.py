"""``hrnet-wb`` with no command: open the TUI."""


import typer

from workbench import __version__
from workbench.cli.app import app


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hrnet-wb {__version__}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Open the terminal UI when no command is given."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        from workbench.tui import launch
    except ImportError:
        typer.echo("The TUI is not built yet; try `hrnet-wb --help`.")
        raise typer.Exit(0) from None
    launch()
