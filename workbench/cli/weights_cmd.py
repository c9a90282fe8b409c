"""``hrnet-wb weights``: the pretrained-weights catalogue, what is cached, and fetching.

A thin shell over :mod:`workbench.sources.weights_catalogue` (the data) and
:mod:`workbench.sources.weights_download` (cache, download, verify): the same calls
``model.weights = "pretrained"`` makes in a run.
"""

import os
import time
from typing import Annotated, Any

import typer

from workbench.cli.app import app
from workbench.cli.common import JsonOpt, failing, guarded, print_json

weights_app = typer.Typer(
    help="The pretrained-weights catalogue: list it with what is cached, or fetch one.",
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,  # help is plain text: "[ray]" in an install hint must survive
)
app.add_typer(weights_app, name="weights")

OfflineOpt = Annotated[bool, typer.Option(
    "--offline", help="Never use the network (like HF_HUB_OFFLINE=1): only cached weights load.")]


def apply_offline(offline: bool) -> None:
    """``--offline`` for this process and any child it starts (the TUI's pipeline runner)."""
    if offline:
        from workbench.sources.weights_download import OFFLINE_ENV

        os.environ[OFFLINE_ENV] = "1"


def _rows(sources: list[str]) -> list[dict[str, Any]]:
    from workbench.sources import SOURCES
    from workbench.sources.variants import VARIANTS
    from workbench.sources.weights_catalogue import load_catalogue
    from workbench.sources.weights_download import cached_file, local_path

    order = {name: i for i, name in enumerate(VARIANTS)}
    src_order = {name: i for i, name in enumerate(SOURCES)}
    entries = sorted(load_catalogue(), key=lambda e: (src_order.get(e.source, 9), order.get(e.variant, 99),
                                                     not e.default))
    rows = []
    for e in entries:
        if sources and e.source not in sources:
            continue
        hit = cached_file(e) if e.published else None
        state = ("cached" if hit else "manual" if e.kind == "manual" else "-") if e.published else "none"
        row = e.as_dict()
        row.update(state=state, cached_path=str(hit) if hit else "")
        if e.kind in ("url", "manual"):
            row["cache_path"] = str(local_path(e))
        rows.append(row)
    return rows


@weights_app.callback(
    invoke_without_command=True,
    epilog=(
        "Examples:\n\n"
        "  hrnet-wb weights\n\n"
        "  hrnet-wb weights --source mmcls --json\n\n"
        "  hrnet-wb weights fetch w18 --source timm\n\n"
        "  hrnet-wb weights fetch hrnet_w32 --source mmcls --tag 3rdparty_8xb32_in1k --json"
    ),
)
def weights_list(
    ctx: typer.Context,
    source: Annotated[list[str] | None, typer.Option("--source", help="timm | official | mmcls (repeatable; default: all).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List every source × variant's published weights, their accuracy and what is cached.

    top-1/top-5 are the accuracies each source published (ImageNet-1k val, 50,000 images);
    * marks the tag `pretrained` picks. state: cached (on disk, no network needed),
    - (downloaded on first use), manual (must be fetched by hand; `weights fetch` says how),
    none (nothing published).
    """
    if ctx.invoked_subcommand is not None:
        return
    from workbench.errors import BadInput
    from workbench.sources import SOURCES

    def rows() -> list[dict[str, Any]]:
        for s in source or []:
            if s not in SOURCES:
                raise BadInput(f"--source {s!r}: expected one of {', '.join(SOURCES)}")
        return _rows(source or [])

    result = guarded(rows, as_json)
    if as_json:
        from workbench.sources.timm_source import hf_cache_dir
        from workbench.sources.weights_download import offline_reason, weights_dir

        print_json({"ok": True, "weights": result, "hf_cache": str(hf_cache_dir()),
                    "weights_dir": str(weights_dir()), "offline": offline_reason() or False})
        return
    _print_rows(result)


def _print_rows(rows: list[dict[str, Any]]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from workbench.sources.timm_source import hf_cache_dir
    from workbench.sources.weights_download import weights_dir

    con = Console()
    tab = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, header_style="bold",
                caption="top-1/top-5: published, in %; * = what `pretrained` picks", caption_justify="left")
    for col, just in (("source", "left"), ("variant", "left"), ("tag", "left"), ("top-1", "right"),
                      ("top-5", "right"), ("state", "left")):
        tab.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
    for r in rows:
        tag = (r.get("tag", "") + ("*" if r.get("default") else "")) if r["state"] != "none" else "(none published)"
        tab.add_row(r["source"], r["variant"].removeprefix("hrnet_"), tag,
                    f"{r['top1']:.2f}" if r.get("top1") is not None else "",
                    f"{r['top5']:.2f}" if r.get("top5") is not None else "", r["state"])
    con.print(tab)
    con.print(f"timm → HF cache {hf_cache_dir()}", highlight=False, overflow="fold")
    con.print(f"mmcls/official → {weights_dir()}", highlight=False, overflow="fold")


@weights_app.command(
    "fetch",
    epilog=(
        "Examples:\n\n"
        "  hrnet-wb weights fetch w18\n\n"
        "  hrnet-wb weights fetch w18 --source timm --tag ms_in1k\n\n"
        "  hrnet-wb weights fetch hrnet_w48 --source mmcls --json\n\n"
        "  hrnet-wb weights fetch w18 --source official    # says where to put the file"
    ),
)
def weights_fetch(
    variant: Annotated[str, typer.Argument(help="hrnet_w18, w18, small_v1, HRNet-W18-C ...", show_default=False)],
    source: Annotated[str, typer.Option(help="timm | official | mmcls.")] = "timm",
    tag: Annotated[str, typer.Option(help="Which published weights (default: the one `pretrained` picks).")] = "",
    offline: OfflineOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Download (or find in the cache) one catalogue entry's weights, verify, and say where.

    Nothing else runs: no model is built. A second call is a cache hit with no network.
    """
    from workbench.cli.render import EventPrinter
    from workbench.errors import BadInput
    from workbench.events import Reporter, StageTimer
    from workbench.sources import SOURCES
    from workbench.sources.weights_catalogue import find_weights
    from workbench.sources.weights_download import cached_file, fetch_weights, offline_reason

    apply_offline(offline)

    def entry() -> Any:
        if source not in SOURCES:
            raise BadInput(f"--source {source!r}: expected one of {', '.join(SOURCES)}")
        return find_weights(source, variant, tag)

    e = guarded(entry, as_json)
    # A bar only for a real download: a cache hit, a manual file or offline is one line.
    network = e.kind in ("hf", "url") and cached_file(e) is None and not offline_reason()
    printer = EventPrinter(quiet=as_json or not network)
    rep = Reporter(printer).stage("weights")
    t0 = time.perf_counter()
    with failing(as_json, "interrupted; a partial download is kept and resumes next time"), \
            printer, StageTimer(rep, e.key):
        got = fetch_weights(e, rep)
    record = {"ok": True, **got.as_dict(), "source": e.source, "variant": e.variant, "tag": e.tag,
              "top1": e.top1, "top5": e.top5, "seconds": round(time.perf_counter() - t0, 3)}
    if as_json:
        print_json(record)
        return
    if got.cached:
        typer.echo(f"{e.key}: cached at {got.path} (no network)")
    else:
        typer.echo(f"{e.key}: downloaded {got.bytes / 2**20:.1f} MiB to {got.path} in {got.seconds:.1f} s")
