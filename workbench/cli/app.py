"""The typer application object every command module registers on."""

from __future__ import annotations

import typer

from workbench.cli.common import GuardedGroup

app = typer.Typer(
    name="hrnet-wb",
    cls=GuardedGroup,
    help=(
        "HRNet Workbench: take an HRNet classifier from timm, mmcls or the official repo to a "
        "measured deployment.\n\n"
        "With no command, opens the terminal UI.\n\n"
        "Examples:\n\n"
        "  hrnet-wb run --profile profiles/demo.toml\n\n"
        "  hrnet-wb leaderboard --format md\n\n"
        "  hrnet-wb models --table"
    ),
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help is plain text: "[ray]" in an install hint must survive
    context_settings={"help_option_names": ["-h", "--help"]},
)
