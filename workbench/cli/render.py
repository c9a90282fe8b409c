"""Rich rendering for the CLI: the live event printer and result tables."""

from __future__ import annotations

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

from workbench.board_view import (
    COLUMNS,
    build_label,
    busiest_load,
    cell,
    eval_text,
    model_label,
    speed_machines,
)
from workbench.cli.progress_lines import ProgressLines
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
from workbench.store import FRACTION_METRICS
from workbench.tables import format_figure as fmt
from workbench.tables import markdown_table

_LEVEL_STYLE = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red"}


class EventPrinter:
    """Turns pipeline events into a live progress display and log lines on stderr.

    On a terminal: rich progress bars. Anywhere else (a pipe, a log file, CI): no live
    display at all, so no spinner frames; instead :class:`ProgressLines` prints one plain
    line per running stage every $HRNET_WB_PROGRESS_EVERY seconds (default 10)."""

    def __init__(self, console: Console | None = None, quiet: bool = False,
                 plain: bool | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.plain = (not self.console.is_terminal) if plain is None else plain
        self.progress = Progress(
            SpinnerColumn(), TextColumn("[bold]{task.fields[stage]:<7}"), TextColumn("{task.description}"),
            BarColumn(bar_width=24), MofNCompleteColumn(), TimeElapsedColumn(),
            console=self.console, transient=False, disable=quiet or self.plain,
        )
        self.lines = ProgressLines(lambda text: self._print(text)) if self.plain and not quiet else None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> EventPrinter:
        if self.lines is not None:
            self.lines.start()
        else:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.lines is not None:
            self.lines.stop()
        else:
            self.progress.stop()

    def _print(self, text: str, style: str = "") -> None:
        if not self.quiet:
            # in a pipe or log file a line stays one line (rich would wrap it at 80 columns)
            self.progress.console.print(text, style=style, highlight=False, markup=False,
                                        soft_wrap=self.plain)

    def __call__(self, ev: Event) -> None:
        if self.lines is not None and isinstance(ev, (StageStarted, ProgressEvent, StageFinished)):
            if isinstance(ev, StageStarted):
                self.lines.started(ev.stage, ev.description, ev.total)
            elif isinstance(ev, ProgressEvent):
                self.lines.progress(ev.stage, ev.done, ev.total, ev.unit)
            else:
                self.lines.finished(ev.stage, ev.seconds)
            return
        if self.lines is not None and isinstance(ev, LogLine):
            self.lines.touch(ev.stage)
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
        elif isinstance(ev, (ArtifactWritten, MetricRecorded, Failed)):
            pass  # a failure: the command's error boundary prints it, once
        elif isinstance(ev, RunFinished) and ev.status != "failed":  # a failure is the error line
            self._print(f"run {ev.run_id} {ev.status} in {ev.seconds:.1f} s", "bold")


# -- tables -------------------------------------------------------------------------------

#: The table's columns (workbench.board_view words and formats); it fits 80 columns.
LEADERBOARD_KEYS = ("run_id", "model", "build_label", "top1", "top5", "images", "p50_ms",
                    "throughput", "vs_torch", "ran")


def leaderboard_table(rows: Sequence[ResultRow], title: str = "", accuracy: bool = True) -> Table:
    """Fits 80 columns: variant (``*`` = random-init weights) and a short build label.

    ``accuracy=False`` drops the top-1/top-5 columns (a run on random-init weights leads
    with speed, not with a column of meaningless 0.00%). ``Δpub`` (measured top-1 minus the
    source's published top-1, in points) appears when a row has one.
    """
    views = [r.as_dict() for r in rows]
    keys = [k for k in LEADERBOARD_KEYS if accuracy or k not in ("top1", "top5", "images")]
    if accuracy and any(v.get("delta_top1") is not None for v in views):
        keys.insert(keys.index("top5") + 1, "delta_top1")
    # a column no row has a figure for (×torch without a baseline, ran without a bench)
    # only costs the model and build columns their width at 80 columns
    keys = [k for k in keys if k in ("run_id", "model", "build_label")
            or any(cell(v, k) != "–" for v in views)]
    caption = "n = images behind the accuracy" if accuracy else "accuracy not shown: random-init weights"
    if "ran" in keys:
        caption += "; ran = precision the runtime reported"
    if accuracy and any(v.get("weights") == "random-init" for v in views):
        caption += "; * = random-init weights"
    if "delta_top1" in keys:
        caption += "; Δpub = top-1 minus the published top-1, in points"
    fps = speed_machines(views)
    if fps:  # a "!" after img/s marks speed from another CPU than other rows'
        caption += (f"\n! speed rows come from {len(fps)} CPUs ({', '.join(fps)}): "
                    "compare speed only within one")
    busy = busiest_load(views)
    if busy:  # "~" after a speed figure: measured while others oversubscribed the cores
        caption += (f"\n~ speed measured while others' load was up to {busy:.1f}x the cores: "
                    "it reads low; measure again on a quiet machine")
    table = Table(title=title or None, show_lines=False, header_style="bold", expand=False,
                  box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False, caption=caption,
                  caption_justify="left")
    for key in keys:
        left = key in ("model", "build_label")
        # the build column wraps between words, never inside one ("ort-cp/u"); one space
        # between columns leaves room for that at 80 columns
        words = [len(w) for v in views for w in cell(v, key).split()] if key == "build_label" else []
        table.add_column(COLUMNS[key].header, justify="left" if left else "right",
                         no_wrap=not left, overflow="fold", min_width=max(words, default=None))
    for v in views:
        table.add_row(*[cell(v, key) for key in keys])
    return table


def eval_notes(rows: Sequence[ResultRow]) -> list[str]:
    """One line per row saying which eval its accuracy comes from (and why, by artifact)."""
    out = []
    for r in rows:
        v = r.as_dict()
        text = eval_text(v)
        if text:
            who = " ".join(p for p in (model_label(v), build_label(v)) if p)
            out.append(f"{who}: accuracy from {text}")
    return out


def rows_to_markdown(rows: Sequence[dict[str, Any]], columns: list[str]) -> str:
    specs = {k: COLUMNS[k].spec for k in ("run_id", "p50_ms", "throughput", "vs_torch")}
    specs.update({k: "{:.4f}" for k in FRACTION_METRICS})  # fractions, like JSON and CSV
    cells = [[fmt(r.get(c), specs.get(c, "{:.4g}" if isinstance(r.get(c), float) else "{}"))
              for c in columns] for r in rows]
    return "\n".join(markdown_table(columns, cells)) + "\n"


def write_out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
