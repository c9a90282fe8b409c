"""``hrnet-wb run``: the whole flow for one profile."""


from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from workbench.cli.app import app
from workbench.cli.common import HomeOpt, JsonOpt, failing, guarded, print_json


@app.command(
    "run",
    epilog=(
        "Examples:\n\n"
        "  hrnet-wb run --profile profiles/demo.toml\n\n"
        "  hrnet-wb run --profile profiles/w18_int8.toml --set model.weights=random-init --data assets\n\n"
        "  hrnet-wb run --profile profiles/w18_int8.toml --set model.weights=~/hrnet_w18.pth "
        "--set data.path=/data/imagenet/val\n\n"
        "  hrnet-wb run --profile profiles/demo.toml --json > record.json\n\n"
        "  hrnet-wb run --profile profiles/w18_int8.toml --set model.weights=pretrained --offline"
    ),
)
def run(
    profile: Annotated[Path, typer.Option("--profile", "-p", help="Profile TOML file.", show_default=False)],
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a profile key: KEY=VALUE, e.g. build.dtype=int8 (repeatable).")] = None,
    offline: Annotated[bool, typer.Option(
        "--offline", help="Never use the network (like HF_HUB_OFFLINE=1): pretrained weights must be cached.")] = False,
    data: Annotated[str | None, typer.Option(
        "--data", help="Dataset folder or file list (data.path); assets = the 13 bundled images.",
        show_default=False)] = None,
    labels: Annotated[str | None, typer.Option("--labels", help="val_label.txt or label.txt (data.labels).",
                                               show_default=False)] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Evaluate at most N images (data.limit).",
                                              min=0, show_default=False)] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", "-b", help="Evaluation batch (data.batch_size).",
                                                   min=1, show_default=False)] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="Evaluation threads, 0 = cores (data.threads).",
                                                min=0, show_default=False)] = None,
    as_json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Run a profile end to end: get model → export → build → evaluate → benchmark → record.

    model.weights = "pretrained" downloads the source's published weights once (verified,
    cached; `hrnet-wb weights` lists them); later runs use the cache without any request.
    """
    from workbench.cli.render import EventPrinter, leaderboard_table
    from workbench.cli.weights_cmd import apply_offline
    from workbench.events import Reporter
    from workbench.home import resolve_home
    from workbench.pipeline import run_profile
    from workbench.profile import load_profile
    from workbench.sources.weights_download import preflight
    from workbench.store import Store

    apply_offline(offline)
    flags = {"path": data, "labels": labels, "limit": limit, "batch_size": batch_size, "threads": threads}
    sets = [*(set_ or []), *(f"data.{k}={v}" for k, v in flags.items() if v is not None)]
    prof = guarded(lambda: load_profile(profile, sets), as_json)
    guarded(lambda: preflight(prof.model.source, prof.model.variant, prof.model.weights), as_json)
    hm = guarded(lambda: resolve_home(home), as_json)
    printer = EventPrinter(quiet=as_json)
    with failing(as_json, "interrupted; the run is recorded as 'interrupted'"), printer:
        record = run_profile(prof, hm, Reporter(printer), str(profile))
    if as_json:
        print_json(record)
        return
    rows = [r for r in Store(hm.db).results() if r.run_id == record["run_id"]]
    out = Console()
    random = record["weights"] == "random-init"
    if random:
        from workbench.cli.help_text import wrap_prose

        out.print(wrap_prose("weights: random-init, so accuracy is not shown; for real weights add "
                             "--set model.weights=pretrained (downloads once; `hrnet-wb weights` "
                             "lists them)", out.width), style="yellow", highlight=False, markup=False,
                  soft_wrap=True)
    out.print(leaderboard_table(rows, title=f"run {record['run_id']} · {prof.name} · {record['seconds']:.0f} s",
                                accuracy=not random))
    for name, rep_ in (record.get("reproduction") or {}).items():
        out.print(f"reproduction {name}: {_reproduction_line(rep_)}", highlight=False)
    out.print(f"results: {record['out_dir']}")


def _reproduction_line(r: dict) -> str:
    from workbench.reproduction import FRACTION_FIELDS, Reproduction
    from workbench.tables import percent

    # the record holds fractions (the unit rule); the human line reads percent
    fields = {k: r[k] for k in Reproduction.__dataclass_fields__}
    for k, v in fields.items():
        if k in FRACTION_FIELDS and v is not None:
            fields[k] = tuple(map(percent, v)) if isinstance(v, list | tuple) else percent(v)
    return Reproduction(**fields).summary()
