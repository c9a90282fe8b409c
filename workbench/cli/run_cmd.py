"""``hrnet-wb run``: the whole flow for one profile."""


from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from workbench.cli.app import app
from workbench.cli.common import HomeOpt, JsonOpt, fail, guarded, print_json


@app.command(
    "run",
    epilog=(
        "Examples:\n\n"
        "  hrnet-wb run --profile profiles/demo.toml\n\n"
        "  hrnet-wb run --profile profiles/w18_int8.toml --set model.weights=~/hrnet_w18.pth "
        "--set data.path=/data/imagenet/val\n\n"
        "  hrnet-wb run --profile profiles/demo.toml --json > record.json"
    ),
)
def run(
    profile: Annotated[Path, typer.Option("--profile", "-p", help="Profile TOML file.", show_default=False)],
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a profile key, e.g. --set build.dtype=int8 (repeatable).")] = None,
    as_json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Run a profile end to end: get model → export → build → evaluate → benchmark → record."""
    from workbench.cli.render import EventPrinter, leaderboard_table
    from workbench.errors import WorkbenchError
    from workbench.events import Reporter
    from workbench.home import resolve_home
    from workbench.pipeline import run_profile
    from workbench.profile import load_profile
    from workbench.store import Store

    prof = guarded(lambda: load_profile(profile, set_ or []), as_json)
    hm = guarded(lambda: resolve_home(home), as_json)
    printer = EventPrinter(quiet=as_json)
    try:
        with printer:
            record = run_profile(prof, hm, Reporter(printer), str(profile))
    except WorkbenchError as exc:
        raise fail(str(exc), exc.exit_code, as_json) from None
    except KeyboardInterrupt:
        raise fail("interrupted; the run is recorded as 'interrupted'", 130, as_json) from None
    if as_json:
        print_json(record)
        return
    rows = [r for r in Store(hm.db).results() if r.run_id == record["run_id"]]
    out = Console()
    out.print(leaderboard_table(rows, title=f"run {record['run_id']} · {prof.name} · {record['seconds']:.0f} s"))
    if record["weights"] == "random-init":
        out.print("[yellow]weights: random-init — accuracy figures are meaningless; "
                  "set model.weights for real ones[/]")
    out.print(f"results: {record['out_dir']}")
