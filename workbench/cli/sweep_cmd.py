"""``hrnet-wb sweep``: the model zoo's whole table in one command, locally or on Ray."""

from pathlib import Path
from typing import Annotated

import typer

from workbench.cli.app import app
from workbench.cli.common import HomeOpt, JsonOpt, failing, guarded, print_json
from workbench.cli.engine_opts import EngineOpt, RayAddressOpt


def _split(values: list[str] | None) -> list[str]:
    return [t.strip() for v in values or [] for t in v.split(",") if t.strip()]


@app.command(
    "sweep",
    epilog=(
        "Examples:\n\n"
        "  hrnet-wb sweep --profile profiles/zoo.toml --data /data/imagenet --weights-dir ~/hrnet-weights\n\n"
        "  hrnet-wb sweep --profile profiles/zoo.toml --only hrnet_w18_small,hrnet_w18 --data assets/\n\n"
        "  hrnet-wb sweep --profile profiles/zoo.toml --skip mmcls --max-minutes 60 --json\n\n"
        "  hrnet-wb sweep --profile profiles/zoo.toml --engine ray --ray-address auto --data /shared/imagenet"
    ),
)
def sweep_cmd(
    profile: Annotated[Path, typer.Option("--profile", "-p", help="Sweep profile TOML (see profiles/zoo.toml).", show_default=False)],
    data: Annotated[str, typer.Option("--data", help="Dataset folder (overrides [data] path).")] = "",
    weights_dir: Annotated[str, typer.Option("--weights-dir", help="Checkpoint folder, a file per row (overrides [models] weights_dir).")] = "",
    only: Annotated[list[str] | None, typer.Option("--only", help="Rows to run: variant (w18, hrnet_w18), source, or source:variant; comma-separated or repeated.")] = None,
    skip: Annotated[list[str] | None, typer.Option("--skip", help="Rows to leave out, same forms as --only.")] = None,
    max_minutes: Annotated[float | None, typer.Option("--max-minutes", help="Start no row after this many minutes; the rest stay pending for the next run.", min=0.0)] = None,
    engine: EngineOpt = "local",
    ray_address: RayAddressOpt = "",
    row_cpus: Annotated[int, typer.Option("--row-cpus", help="Ray: CPUs (and threads) per row's build+eval task.", min=1)] = 1,
    as_json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Build, evaluate and benchmark every source × variant of a sweep profile into the model-zoo table.

    Writes zoo.md, zoo.csv and zoo.json (fractions in CSV/JSON, percent in Markdown) to the sweep
    folder; every row is also a run in the store (the TUI leaderboard shows it). A rerun skips the
    rows already done, so a killed sweep continues where it stopped.
    """
    from rich.console import Console

    from workbench.cli.render import EventPrinter
    from workbench.engines import prepare_engine
    from workbench.events import Reporter
    from workbench.home import resolve_home
    from workbench.sweep.plan import load_sweep_profile
    from workbench.sweep.run import run_sweep
    from workbench.sweep.table import markdown

    guarded(lambda: prepare_engine(engine, ray_address), as_json)
    plan = guarded(lambda: load_sweep_profile(profile, data=data, weights_dir=weights_dir), as_json)
    hm = guarded(lambda: resolve_home(home), as_json)
    printer = EventPrinter(quiet=as_json)
    with failing(as_json, "interrupted; rerun the same command to continue (finished rows are kept)"), \
            printer:
        record = run_sweep(plan, hm, Reporter(printer), engine=engine, ray_address=ray_address,
                           only=_split(only), skip=_split(skip), max_minutes=max_minutes,
                           profile_path=str(profile), row_cpus=row_cpus)
    if as_json:
        print_json(record)
    else:
        c = Console()
        typer.echo(markdown(record["rows"], f"{plan.name} · {record['engine']} engine · "
                                            f"{record['seconds']:.0f} s"))
        n = record["counts"]
        c.print(f"{n['ok']} row(s) done, {n['failed']} failed, {n['pending']} pending · "
                f"{record['files']['markdown']} (+ .csv, .json)", highlight=False)
    if not record["ok"]:
        raise typer.Exit(1)
