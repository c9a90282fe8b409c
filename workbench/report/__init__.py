"""``hrnet-wb report``: one self-contained HTML page from the store (and the plots as PNGs).

``gather`` reads the figures, ``plots`` draws them with matplotlib (the ``report`` extra),
``page`` writes the HTML. Imports neither textual nor rich: the CLI and the TUI's
leaderboard call :func:`write_report` alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.records import ResultRow
from workbench.report.gather import ReportData, gather, select_runs
from workbench.report.plots import INSTALL_HINT, require_matplotlib

__all__ = ["INSTALL_HINT", "ReportResult", "report_for_board", "require_matplotlib", "select_runs",
           "write_report"]


@dataclass
class ReportResult:
    path: str
    rows: int
    bytes: int
    pngs: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    flips: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"ok": True, "path": self.path, "rows": self.rows, "bytes": self.bytes,
                "pngs": self.pngs, "missing": self.missing, "flips": self.flips}


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def write_report(store: Any, rows: list[ResultRow], out: Path, *, cost_cache: Path | None = None,
                 png_dir: Path | None = None, max_flips: int = 24, selection: str = "all rows",
                 title: str = "HRNet Workbench report", count_costs: bool = True) -> ReportResult:
    """Write the page for ``rows`` (leaderboard rows by artifact) to ``out``, atomically."""
    from importlib.metadata import PackageNotFoundError, version

    from workbench.atomic import write_text
    from workbench.report import page, plots

    require_matplotlib()
    data: ReportData = gather(store, rows, cost_cache=cost_cache, max_flips=max_flips,
                              count_costs=count_costs)
    if png_dir is not None:
        png_dir.mkdir(parents=True, exist_ok=True)
    scatter, latency = [], []
    cpus = {m.fingerprint: m.cpu for m in data.machines}
    for fp in sorted({e.row.fingerprint or "unrecorded" for e in data.entries}):
        mine = [e for e in data.entries if (e.row.fingerprint or "unrecorded") == fp]
        cpu = cpus.get(fp, {})
        summary = str(cpu.get("summary") or cpu.get("model") or "")
        p = plots.accuracy_vs_throughput(mine, fp, summary, png_dir, f"accuracy_vs_throughput-{_slug(fp)}")
        if p is not None:
            scatter.append(p)
        q = plots.latency_by_batch(mine, fp, png_dir, f"latency-{_slug(fp)}")
        if q is not None:
            latency.append(q)
    try:
        ver = version("hrnet-wb")
    except PackageNotFoundError:
        ver = "(not installed)"
    html = page.render(data, scatter, latency, title=title, selection=selection,
                       cap=max_flips, version=ver)
    write_text(out, html)
    return ReportResult(str(out), len(data.entries), len(html.encode("utf-8")),
                        [p.png for p in (*scatter, *latency) if p.png], data.missing,
                        sum(len(p.flips) for p in data.pairs))


def report_for_board(store: Any, shown: list[dict[str, Any]]) -> ReportResult:
    """The report for the leaderboard rows a UI shows (per run and build): the artifact rows
    behind them, written to ``<home>/reports/report-<UTC time>.html``. Counts no costs (that
    imports torch); cells the cost cache lacks stay empty."""
    import datetime as dt

    keys = {r.get("artifact_key") or f"build:{r.get('build')}" for r in shown}
    runs = sorted({int(r["run_id"]) for r in shown})
    rows = [r for r in select_runs(store.results(group="artifact"), runs)
            if (r.artifact_key or f"build:{r.build}") in keys]
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = store.root / "reports" / f"report-{stamp}.html"
    return write_report(store, rows, out, cost_cache=store.root / "cache" / "cost.json",
                        selection=f"{len(shown)} leaderboard rows shown (runs {', '.join(map(str, runs))})",
                        count_costs=False)
