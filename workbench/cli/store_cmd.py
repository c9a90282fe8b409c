"""``hrnet-wb runs`` and ``hrnet-wb leaderboard``: read back what the store recorded."""


import datetime as dt
from enum import Enum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from workbench.cli.app import app
from workbench.cli.common import HomeOpt, JsonOpt, guarded, print_json
from workbench.records import ResultRow


class Format(str, Enum):
    table = "table"
    csv = "csv"
    md = "md"
    json = "json"


EXPORT_COLUMNS = ["run_id", "run", "status", "build", "source", "variant", "weights", "backend",
                  "dtype", "calibration", "input_size", "top1", "top5", "images", "skipped",
                  "eval_run", "data_root", "data_layout", "data_hash", "eval_limit",
                  "calibration_excluded", "includes_calibration",
                  "p50_ms", "p90_ms", "p99_ms", "throughput", "vs_torch", "size_mb",
                  "spread", "vs_torch_latency", "vs_roofline", "gflops", "limit_img_s",
                  "peak_rss_mb", "precision", "eval_precision", "runtime", "hint",
                  "fingerprint", "speed_note", "runs"]

#: What ``--format md`` shows unless ``--columns`` asks for more: a table a person reads.
MD_COLUMNS = ["run_id", "variant", "weights", "dtype", "calibration", "backend", "top1", "top5",
              "images", "p50_ms", "throughput", "vs_torch", "precision"]

_WHERE_OPS = ("<=", ">=", "!=", "=", "<", ">")


def _where(rows: list[ResultRow], cond: str) -> list[ResultRow]:
    """COLUMN=VALUE (exact text) or COLUMN<op>NUMBER with <, <=, >, >=, != — e.g. top1>=0.76."""
    from workbench.errors import BadInput

    op = next((o for o in _WHERE_OPS if o in cond), None)
    if op is None:
        raise BadInput(f"--where {cond!r}: expected COLUMN=VALUE or COLUMN<=NUMBER, e.g. dtype=int8, p99_ms<=50")
    col, val = (x.strip() for x in cond.split(op, 1))
    if col not in EXPORT_COLUMNS:
        raise BadInput(f"--where: unknown column {col!r}; expected one of: {', '.join(EXPORT_COLUMNS)}")
    if op in ("=", "!="):
        keep = [r for r in rows if str(r.get(col) if r.get(col) is not None else "") == val]
        return keep if op == "=" else [r for r in rows if r not in keep]
    try:
        num = float(val)
    except ValueError:
        raise BadInput(f"--where {cond!r}: {op} needs a number, got {val!r}") from None
    test = {"<": num.__gt__, "<=": num.__ge__, ">": num.__lt__, ">=": num.__le__}[op]
    return [r for r in rows if isinstance(r.get(col), (int, float)) and test(r.get(col))]


@app.command("runs", epilog="Examples:\n\n  hrnet-wb runs\n\n  hrnet-wb runs --json --limit 5")
def runs(
    limit: Annotated[int, typer.Option(help="Show at most this many runs, newest first (0 = all).")] = 20,
    as_json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """List recorded runs with their status (running, ok, failed, interrupted, cancelled, died)."""
    from workbench.errors import BadInput
    from workbench.home import resolve_home
    from workbench.store import Store

    def load() -> list:
        if limit < 0:
            raise BadInput(f"--limit {limit}: must be 0 (all) or more")
        return Store(resolve_home(home, create=False).db, readonly=True).runs(limit)

    rows = guarded(load, as_json)
    if as_json:
        print_json([r.as_dict() for r in rows])
        return
    t = Table(header_style="bold")
    for h in ("id", "name", "status", "started", "seconds", "error"):
        t.add_column(h)
    for r in rows:
        started = dt.datetime.fromtimestamp(r.started_at).strftime("%Y-%m-%d %H:%M")
        t.add_row(str(r.id), r.name, r.status, started,
                  f"{r.seconds:.1f}" if r.seconds is not None else "–", r.error[:60])
    Console().print(t)


@app.command(
    "leaderboard",
    epilog=("Examples:\n\n  hrnet-wb leaderboard\n\n  hrnet-wb leaderboard --sort throughput\n\n"
            "  hrnet-wb leaderboard --where dtype=int8 --format md\n\n"
            "  hrnet-wb leaderboard --by artifact --where p99_ms<=50 --sort throughput\n\n"
            "  hrnet-wb leaderboard --format csv > board.csv"),
)
def leaderboard(
    sort: Annotated[str, typer.Option(help="Metric or column to sort by (top1, throughput, p50_ms, ...).")] = "top1",
    ascending: Annotated[bool | None, typer.Option(
        "--asc/--desc", help="Sort order; default: best first for the metric.", show_default=False)] = None,
    where: Annotated[list[str] | None, typer.Option(
        help="Filter COLUMN=VALUE or COLUMN<op>NUMBER (<, <=, >, >=, !=; repeatable), "
             "e.g. dtype=int8, top1>=0.76 (accuracy is a fraction), p99_ms<=50.")] = None,
    by: Annotated[str, typer.Option(
        "--by", help="run: one row per run and build; artifact: one row per build across runs "
        "(joins an eval run's accuracy with a later bench run's speed; accuracy from the eval with "
        "the most images on the latest data, never a --limit smoke test over a full eval).")] = "run",
    run: Annotated[int | None, typer.Option(help="Only this run id.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    columns: Annotated[str, typer.Option(
        "--columns", help="Columns for md and csv, comma-separated, or 'all' (md default: run_id, "
        "variant, weights, dtype, calibration, backend, top1, top5, images, p50_ms, throughput, "
        "vs_torch, precision; csv default: all).", show_default=False)] = "",
    as_json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Accuracy and speed of every recorded build, side by side.

    Every accuracy figure names its eval: image count, data root, layout and listing hash
    (columns images, data_root, data_layout, data_hash, eval_run). top1/top5 are fractions in
    JSON, CSV and md; the table shows percent.
    """
    from workbench.cli.render import (
        eval_notes,
        leaderboard_table,
        rows_to_markdown,
        write_out,
    )
    from workbench.errors import BadInput
    from workbench.home import resolve_home
    from workbench.store import LOWER_IS_BETTER, Store
    from workbench.tables import csv_table

    def load() -> list[ResultRow]:
        if by not in ("run", "artifact"):
            raise BadInput(f"--by {by!r}: expected run or artifact")
        store = Store(resolve_home(home, create=False).db, readonly=True)
        rows = store.results(group=by)
        if run is not None:
            if not store.exists or store.run_row(run) is None:
                raise BadInput(f"--run {run}: no such run in {store.path} (see `hrnet-wb runs`)")
            rows = [r for r in rows if r.run_id == run]
        for cond in where or []:
            rows = _where(rows, cond)
        if rows and sort not in EXPORT_COLUMNS:
            raise BadInput(f"--sort: unknown column {sort!r}; expected one of: {', '.join(EXPORT_COLUMNS)}")
        asc = ascending if ascending is not None else sort in LOWER_IS_BETTER
        present = [r for r in rows if r.get(sort) is not None]
        missing = [r for r in rows if r.get(sort) is None]
        present.sort(key=lambda r: r.get(sort), reverse=not asc)
        return present + missing

    def pick(default: list[str]) -> list[str]:
        if not columns:
            return default
        if columns.strip() == "all":
            return EXPORT_COLUMNS
        cols = [c.strip() for c in columns.split(",") if c.strip()]
        bad = [c for c in cols if c not in EXPORT_COLUMNS]
        if bad:
            raise BadInput(f"--columns: unknown {', '.join(bad)}; expected 'all' or some of: "
                           f"{', '.join(EXPORT_COLUMNS)}")
        return cols

    rows = guarded(load, as_json)
    if as_json or fmt is Format.json:
        print_json([r.as_dict() for r in rows])
    elif fmt is Format.csv:
        write_out(csv_table([r.as_dict() for r in rows], guarded(lambda: pick(EXPORT_COLUMNS), as_json)))
    elif fmt is Format.md:
        # speed from several CPUs is not comparable: then the md table names each row's CPU
        md = MD_COLUMNS + (["fingerprint"] if any(r.speed_note for r in rows) else [])
        write_out(rows_to_markdown([r.as_dict() for r in rows], guarded(lambda: pick(md), as_json)))
    else:
        c = Console()
        c.print(leaderboard_table(rows, title="leaderboard"))
        for line in eval_notes(rows):
            c.print(line, highlight=False, markup=False)
