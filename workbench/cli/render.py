"""Rich rendering for the CLI: the live event printer and result tables."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from workbench.events import (
    ArtifactWritten,
    Event,
    Failed,
    LogLine,
    MetricRecorded,
    RunFinished,
    RunStarted,
    StageFinished,
    StageStarted,
)
from workbench.events import (
    Progress as ProgressEvent,
)
from workbench.records import ResultRow
from workbench.tables import format_figure as fmt
from workbench.tables import markdown_table

_LEVEL_STYLE = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red"}


class EventPrinter:
    """Turns pipeline events into a live progress display and log lines on stderr."""

    def __init__(self, console: Console | None = None, quiet: bool = False) -> None:
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.progress = Progress(
            SpinnerColumn(), TextColumn("[bold]{task.fields[stage]:<7}"), TextColumn("{task.description}"),
            BarColumn(bar_width=24), MofNCompleteColumn(), TimeElapsedColumn(),
            console=self.console, transient=False, disable=quiet,
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> EventPrinter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _print(self, text: str, style: str = "") -> None:
        if not self.quiet:
            self.progress.console.print(text, style=style, highlight=False, markup=False)

    def __call__(self, ev: Event) -> None:
        if isinstance(ev, RunStarted):
            self._print(f"run {ev.run_id}: {ev.profile_path}", "bold")
        elif isinstance(ev, StageStarted):
            self.tasks[ev.stage] = self.progress.add_task(ev.description, total=ev.total, stage=ev.stage)
        elif isinstance(ev, ProgressEvent):
            task = self.tasks.get(ev.stage)
            if task is None:
                task = self.tasks[ev.stage] = self.progress.add_task("", total=ev.total, stage=ev.stage)
            self.progress.update(task, completed=ev.done, total=ev.total)
        elif isinstance(ev, StageFinished):
            task = self.tasks.get(ev.stage)
            if task is not None:
                t = self.progress.tasks[task] if task < len(self.progress.tasks) else None
                total = (t.total if t and t.total else None) or 1
                self.progress.update(task, completed=total, total=total,
                                     description=f"done in {ev.seconds:.1f} s")
        elif isinstance(ev, LogLine):
            style = _LEVEL_STYLE.get(ev.level, "")
            prefix = "warning: " if ev.level == "warning" else ""
            self._print(f"  [{ev.stage}] {prefix}{ev.message}", style)
        elif isinstance(ev, ArtifactWritten):
            pass
        elif isinstance(ev, MetricRecorded):
            pass
        elif isinstance(ev, Failed):
            self._print(f"error: {ev.message}", "bold red")
        elif isinstance(ev, RunFinished):
            self._print(f"run {ev.run_id} {ev.status} in {ev.seconds:.1f} s", "bold")


# -- tables -------------------------------------------------------------------------------

LEADERBOARD_COLUMNS: list[tuple[str, str, str]] = [
    # key, header, format
    ("run_id", "run", "{:.0f}"),
    ("model", "model", "{}"),
    ("build_label", "build", "{}"),
    ("top1", "top-1", "{:.2f}"),
    ("top5", "top-5", "{:.2f}"),
    ("p50_ms", "p50 ms", "{:.1f}"),
    ("throughput", "img/s", "{:.1f}"),
    ("vs_torch", "×torch", "{:.2f}"),
    ("precision", "ran", "{}"),
]


def short_weights(w: str) -> str:
    if not w or w == "random-init":
        return w or ""
    return w.rsplit("/", 1)[-1]


def build_label(row: ResultRow) -> str:
    """'int8 percentile ort-cpu' from the build config; the artifact name is too long for 80 columns."""
    if not row.dtype:
        return row.build
    return " ".join(p for p in (row.dtype, row.calibration, row.backend) if p)


def model_label(row: ResultRow) -> str:
    variant = row.variant.removeprefix("hrnet_")
    if row.weights == "random-init":
        variant += "*"
    return variant


#: Shown after top-5 when any row has a published figure to compare with (reproduction check).
PUBLISHED_COLUMN = ("delta_top1", "Δpub", "{:+.2f}")


def leaderboard_table(rows: Sequence[ResultRow], title: str = "", accuracy: bool = True) -> Table:
    """Fits 80 columns: variant (``*`` = random-init weights) and a short build label.

    ``accuracy=False`` drops the top-1/top-5 columns (a run on random-init weights leads
    with speed, not with a column of meaningless 0.00%). ``Δpub`` (measured top-1 minus the
    source's published top-1) appears when a row has one.
    """
    columns = [c for c in LEADERBOARD_COLUMNS if accuracy or c[0] not in ("top1", "top5")]
    if accuracy and any(r.get("delta_top1") is not None for r in rows):
        at = [c[0] for c in columns].index("top5") + 1
        columns.insert(at, PUBLISHED_COLUMN)
    caption = "top-1/top-5 in %" if accuracy else "accuracy not shown: random-init weights"
    caption += "; ran = precision the runtime reported"
    if accuracy and any(r.get("weights") == "random-init" for r in rows):
        caption += "; * = random-init weights"
    if any(r.get("delta_top1") is not None for r in rows) and accuracy:
        caption += "; Δpub = top-1 minus the published top-1"
    fps = sorted({str(r.get("fingerprint") or "unknown") for r in rows if r.get("speed_note")})
    if fps:  # a "!" after img/s marks speed from another CPU than other rows'
        caption += (f"\n! speed rows come from {len(fps)} CPUs ({', '.join(fps)}): "
                    "compare speed only within one")
    table = Table(title=title or None, show_lines=False, header_style="bold", expand=False,
                  box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, caption=caption)
    for key, header, _ in columns:
        left = key in ("model", "build_label")
        table.add_column(header, justify="left" if left else "right", no_wrap=not left,
                         overflow="fold")
    for r in rows:
        view = dict(r.as_dict(), model=model_label(r), build_label=build_label(r))
        cells = [fmt(view.get(key), spec) for key, _, spec in columns]
        if r.get("speed_note"):
            cells[[k for k, _, _ in columns].index("throughput")] += "!"
        table.add_row(*cells)
    return table


def rows_to_csv(rows: Sequence[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: r.get(c, "") for c in columns})
    return buf.getvalue()


def rows_to_markdown(rows: Sequence[dict[str, Any]], columns: list[str]) -> str:
    specs = {k: s for k, _, s in LEADERBOARD_COLUMNS}
    cells = [[fmt(r.get(c), specs.get(c, "{:.4g}" if isinstance(r.get(c), float) else "{}"))
              for c in columns] for r in rows]
    return "\n".join(markdown_table(columns, cells)) + "\n"


def write_out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, default=str) + "\n"
