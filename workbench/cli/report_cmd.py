"""``hrnet-wb report``: the store's figures as one self-contained HTML page (and PNGs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workbench.cli.app import app
from workbench.cli.common import HomeOpt, JsonOpt, guarded, print_json


def parse_runs(text: str) -> list[int]:
    """``3,5-7`` → [3, 5, 6, 7]; BadInput on anything else."""
    from workbench.errors import BadInput

    out: list[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        lo, sep, hi = part.partition("-")
        if not (lo.isdigit() and (not sep or hi.isdigit())):
            raise BadInput(f"--runs {text!r}: expected run ids like 3,5-7")
        out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    return out


@app.command("report", epilog=(
    "Examples:\n\n  hrnet-wb report\n\n  hrnet-wb report --out w18.html --where variant=hrnet_w18\n\n"
    "  hrnet-wb report --runs 3,5-7 --png docs/ --max-flips 12"))
def report(
    out: Annotated[str, typer.Option("--out", "-o", help="The HTML file to write.")] = "report.html",
    runs: Annotated[str, typer.Option(help="Only rows with figures from these runs, e.g. 3,5-7.")] = "",
    where: Annotated[list[str] | None, typer.Option(
        help="Filter COLUMN=VALUE or COLUMN<op>NUMBER, as `leaderboard --where` (repeatable).")] = None,
    png: Annotated[str, typer.Option("--png", help="Also write each plot as a PNG into this folder.")] = "",
    max_flips: Annotated[int, typer.Option(
        "--max-flips", min=0, help="Flipped images (int8 vs fp32) shown with thumbnails, in all.")] = 24,
    as_json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """One HTML page: zoo table, accuracy vs throughput per machine, latency by batch,
    int8-vs-fp32 flips with thumbnails, machines and software, and each row's command.

    Opens offline (no CDN, no web fonts, images inline). Needs matplotlib (the report extra).
    """
    from workbench.cli.store_cmd import _where
    from workbench.errors import BadInput
    from workbench.home import resolve_home
    from workbench.paths import kind_of
    from workbench.report import require_matplotlib, select_runs, write_report
    from workbench.store import Store

    def run():  # type: ignore[no-untyped-def]
        require_matplotlib()
        h = resolve_home(home, create=False)
        store = Store(h.db, readonly=True)
        rows = store.results(group="artifact")
        selection = []
        if runs:
            rows = select_runs(rows, parse_runs(runs))
            selection.append(f"runs {runs}")
        for cond in where or []:
            rows = _where(rows, cond)
            selection.append(f"where {cond}")
        png_dir = Path(png).expanduser() if png else None
        if png_dir is not None and png_dir.exists() and not png_dir.is_dir():
            raise BadInput(f"{png_dir}: --png must be a folder, found {kind_of(png_dir.stat().st_mode)}")
        target = Path(out).expanduser()
        if target.exists() and not target.is_file():
            raise BadInput(f"{target}: --out must be a file, found {kind_of(target.stat().st_mode)}")
        return write_report(store, rows, target, cost_cache=h.cache / "cost.json",
                            png_dir=png_dir, max_flips=max_flips,
                            selection=", ".join(selection) or "all rows")

    result = guarded(run, as_json)
    if as_json:
        print_json(result.as_dict())
        return
    print(f"wrote {result.path} ({result.rows} rows, {result.bytes / 1e6:.2f} MB, "
          f"{result.flips} flipped images)")
    for p in result.pngs:
        print(f"wrote {p}")
    for m in result.missing:
        print(f"missing: {m}")
