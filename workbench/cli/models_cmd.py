"""``hrnet-wb models``: every source × variant with its params and cost, counted per source.

``--table`` prints each source's published table under that source's own counting
convention; every cell is computed by :mod:`workbench.sources.cost`, never typed in.
"""


import time
from typing import Annotated, Any

import typer

from workbench.cli.app import app
from workbench.cli.common import HomeOpt, JsonOpt, guarded, print_json

_TITLES = {
    "official": ("official README", "#Params (M)", "GFLOPs"),
    "mmcls": ("mmcls metafile", "Params (M)", "Flops (G)"),
    "timm": ("timm benchmark", "param_count (M)", "GMACs"),
}


def _counted(src: str, size: tuple[int, int], home: Any, rep: Any) -> list[Any]:
    """``cost_table`` of one source; on a cold cache the count is a stage with progress
    (minutes on a busy machine), announced before it starts."""
    from workbench.events import StageTimer
    from workbench.sources.cost import CONVENTIONS, cached_costs, cost_table

    cache = home.cache / "cost.json"
    todo = len(CONVENTIONS[src].variants) - len(cached_costs(src, cache, size))
    if not todo or rep is None:
        return cost_table(src, cache, size)
    r = rep.stage(src)
    with StageTimer(r, f"counting {todo} variant(s) once; cached after"):
        r.progress(0, len(CONVENTIONS[src].variants), "variants")
        return cost_table(src, cache, size, reporter=r)


def _tables(sources: list[str], size: tuple[int, int], home: Any, rep: Any = None) -> dict[str, Any]:
    from workbench.sources.cost import CONVENTIONS, SEED_TIMM_FLOPS_NOTE
    from workbench.sources.variants import VARIANTS

    out: dict[str, Any] = {}
    for src in sources:
        conv = CONVENTIONS[src]
        title, pcol, ccol = _TITLES[src]
        rows = []
        for r in _counted(src, size, home, rep):
            v = VARIANTS[r.variant]
            name = v.official if src == "official" else (f"hrnet-{v.short}" if src == "mmcls" else v.name)
            rows.append({"variant": r.variant, "name": name, "params_m": r.params_m, "cost": r.cost,
                         "params": r.params, "count": r.count})
        table: dict[str, Any] = {"title": title, "convention": conv.description,
                                 "columns": ["model", pcol, ccol], "rows": rows}
        if src == "timm":
            table["not_reproducible"] = {"column": "flops (seed table)", "hrnet_w18": "9.667",
                                         "reason": SEED_TIMM_FLOPS_NOTE}
        out[src] = table
    return out


def _listing(sources: list[str], size: tuple[int, int], home: Any, rep: Any = None) -> list[dict[str, Any]]:
    from workbench.sources.cost import CONVENTIONS
    from workbench.sources.timm_source import pretrained_tags
    from workbench.sources.variants import VARIANTS

    rows = []
    for src in sources:
        conv = CONVENTIONS[src]
        for r in _counted(src, size, home, rep):
            v = VARIANTS[r.variant]
            rows.append({
                "source": src, "variant": r.variant, "short": v.short, "params": r.params,
                "params_m": r.params_m, "cost": r.cost, "cost_unit": _TITLES[src][2],
                "convention": conv.description,
                "weights": ", ".join(f"hub:{t}" for t in pretrained_tags(r.variant)) if src == "timm" else "file",
            })
    return rows


@app.command(
    "models",
    epilog=(
        "Examples:\n\n"
        "  hrnet-wb models\n\n"
        "  hrnet-wb models --source mmcls\n\n"
        "  hrnet-wb models --table\n\n"
        "  hrnet-wb models --table --json > tables.json\n\n"
        "  hrnet-wb models --input-size 256 --source official"
    ),
)
def models_cmd(
    table: Annotated[bool, typer.Option("--table", help="Print each source's published table, recomputed under its own convention.")] = False,
    source: Annotated[list[str] | None, typer.Option("--source", help="timm | official | mmcls (repeatable; default: all).")] = None,
    input_size: Annotated[str, typer.Option("--input-size", help="H or HxW for the cost columns (published tables: 224).")] = "224",
    as_json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """List every source × variant with params and cost, each counted the way its source counts.

    official: conv+linear multiply-adds / 2^30 · mmcls: mmcv's counter (MACs + BN/ReLU/upsample/
    pool, no fc) / 1e9, params without the neck conv biases · timm: fvcore GMACs / 1e9.
    Counts run once on the meta device and are cached in <home>/cache/cost.json.
    """
    from workbench.errors import BadInput
    from workbench.home import resolve_home
    from workbench.input_size import parse_input_size
    from workbench.sources import SOURCES

    t0 = time.perf_counter()
    srcs = source or ["official", "mmcls", "timm"]

    def check() -> tuple[int, int]:
        for s in srcs:
            if s not in SOURCES:
                raise BadInput(f"--source {s!r}: expected one of {', '.join(SOURCES)}")
        return parse_input_size(input_size)

    size = guarded(check, as_json)
    hm = guarded(lambda: resolve_home(home), as_json)
    key = "tables" if table else "models"
    from workbench.cli.render import EventPrinter
    from workbench.events import Reporter

    with EventPrinter(quiet=as_json) as printer:
        rep = Reporter(printer)
        result: dict[str, Any] | list[dict[str, Any]] = guarded(
            lambda: _tables(srcs, size, hm, rep) if table else _listing(srcs, size, hm, rep), as_json)
    if as_json:
        print_json({"ok": True, "input_size": list(size), key: result,
                    "seconds": round(time.perf_counter() - t0, 3)})
        return
    if isinstance(result, dict):
        _print_tables(result, size)
    else:
        _print_listing(result, size)


def _print_tables(tables: dict[str, Any], size: tuple[int, int]) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    for src, t in tables.items():
        tab = Table(title=f"{src}: {t['title']} at {size[0]}x{size[1]}", caption=t["convention"],
                    title_justify="left", caption_justify="left")
        for i, col in enumerate(t["columns"]):
            tab.add_column(col, justify="left" if i == 0 else "right")
        if "not_reproducible" in t:
            tab.add_column("flops (seed)", justify="right")
        for r in t["rows"]:
            cells = [r["name"], r["params_m"], r["cost"]]
            if "not_reproducible" in t:
                cells.append("n/r")
            tab.add_row(*cells)
        con.print(tab)
        if "not_reproducible" in t:
            con.print(f"n/r: {t['not_reproducible']['reason']}", style="yellow", highlight=False)
        con.print()


def _print_listing(rows: list[dict[str, Any]], size: tuple[int, int]) -> None:
    from rich.console import Console
    from rich.table import Table

    tab = Table(title=f"HRNet classifiers by source (cost at {size[0]}x{size[1]}, each source's convention)",
                title_justify="left")
    for col, just in (("source", "left"), ("variant", "left"), ("params (M)", "right"), ("cost", "right"),
                      ("unit", "left"), ("weights", "left")):
        tab.add_column(col, justify=just, no_wrap=col != "weights")  # type: ignore[arg-type]
    for r in rows:
        tab.add_row(r["source"], r["variant"], r["params_m"], r["cost"], r["cost_unit"], r["weights"])
    Console().print(tab)
