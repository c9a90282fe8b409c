"""Leaderboard pane: every recorded (run, build) from the store; sort, filter, mark two to
compare; plots of accuracy against throughput per build and of the latency distribution.

ok rows come first; rows of cancelled and failed runs are hidden until 'a' shows them.
The build column is the whole recipe, abbreviated by rule from the store's fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Label

from workbench.store import LOWER_IS_BETTER
from workbench.tui.board import (
    COLUMNS,
    PLOTS,
    SORT_KEYS,
    ColumnSpec,
    accuracy_vs_throughput,
    axis_range,
    cell,
    filter_error,
    filter_rows,
    grid_labels,
    latency_distribution,
    recipe,
    row_key,
    sort_rows,
    speed_caption,
    visible_columns,
    visible_rows,
)
from workbench.tui.commands import bindings
from workbench.tui.messages import OpenRuns

if TYPE_CHECKING:  # pragma: no cover
    from workbench.store import Store


class LeaderboardPane(Vertical):
    BINDINGS = bindings("leaderboard")

    def __init__(self, store: Store, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.store = store
        self.all_rows: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []
        self.sort_key = "top1"
        self.descending: bool | None = None
        self.marked: list[str] = []
        self.plot_kind = PLOTS[0]
        self.show_all = False
        self.filter_problem = ""
        self._columns: tuple[ColumnSpec, ...] = COLUMNS

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-row"):
            yield Input(placeholder="/ filter: int8  backend=ort-cpu  run name…", id="lb-filter",
                        compact=True)
            yield Label("", id="lb-status")
        yield Label("", id="lb-error")
        table: DataTable[str] = DataTable(id="board", cursor_type="row", zebra_stripes=True)
        for key, header, _spec, width in COLUMNS:
            table.add_column(header, key=key, width=width)
        yield table
        yield Label("", id="lb-note")
        from workbench.tui.widgets.plot import Plot  # plotext: not needed for the first frame

        yield Plot(id="lb-plot")

    def on_mount(self) -> None:
        self.reload()

    def on_resize(self) -> None:
        if self.all_rows:
            self.apply()  # more columns fit, or fewer

    def action_reload(self) -> None:
        self.reload()

    def reload(self) -> None:
        self.all_rows = self.store.leaderboard()
        self.apply()

    def apply(self) -> None:
        """Filter, sort, draw the table and the plot from ``all_rows``."""
        text = self.query_one("#lb-filter", Input).value
        shown = visible_rows(self.all_rows, self.show_all)
        self.filter_problem = filter_error(self.all_rows, text)
        error = self.query_one("#lb-error", Label)
        error.update(self.filter_problem)
        error.display = bool(self.filter_problem)
        self.rows = [] if self.filter_problem else sort_rows(filter_rows(shown, text), self.sort_key,
                                                             self.descending)
        present = {row_key(r) for r in self.all_rows}
        self.marked = [k for k in self.marked if k in present]
        table = self.query_one("#board", DataTable)
        cursor = table.cursor_row
        columns = fit_columns(visible_columns(shown), self.rows, self.size.width - 2)
        if columns != self._columns:  # 'ran' and 'n' come and go with the rows
            self._set_columns(table, columns)
        table.clear()
        for r in self.rows:
            k = row_key(r)
            cells = [("●" if k in self.marked else " ") if key == "mark" else cell(r, key, spec)
                     for key, _h, spec, _w in columns]
            table.add_row(*cells, key=k)
        note = self.query_one("#lb-note", Label)
        note.update(speed_caption(shown))
        note.display = bool(note.content)
        if self.rows:
            table.move_cursor(row=min(cursor, len(self.rows) - 1))
        self._status()
        self.draw_plot()

    def _set_columns(self, table: DataTable[str], columns: tuple[ColumnSpec, ...]) -> None:
        table.clear(columns=True)
        for key, header, _spec, width in columns:
            table.add_column(header, key=key, width=width)
        self._columns = columns

    def _status(self) -> None:
        d = self.descending if self.descending is not None else self.sort_key not in LOWER_IS_BETTER
        arrow = "↓" if d else "↑"
        marks = f" · marked {len(self.marked)}/2" if self.marked else ""
        hidden = len(self.all_rows) - len(visible_rows(self.all_rows, self.show_all))
        more = f" · {hidden} hidden (a)" if hidden else (" · all (a)" if self.show_all else "")
        header = next((h for k, h, _s, _w in COLUMNS if k == self.sort_key), self.sort_key)
        self.query_one("#lb-status", Label).update(
            f"{len(self.rows)}/{len(self.all_rows)} rows · sort {header} {arrow}{marks}{more}")

    def draw_plot(self) -> None:
        from workbench.tui.widgets.plot import Plot

        plot = self.query_one("#lb-plot", Plot)
        if self.plot_kind == "accuracy-vs-throughput":
            series = accuracy_vs_throughput(self.rows)
            ys = [y for s in series for y in s.y]
            xs = [x for s in series for x in s.x]
            plot.scatter(series, title="top-1 % (up) vs img/s (across), per build kind",
                         xlabel="img/s", ylabel="top-1 %", empty="no run with both figures yet",
                         ylim=axis_range(ys, 0.0, 100.0, min_span=2.0),
                         xlim=axis_range(xs, 0.0, None, min_span=1.0))
            return
        row = self.current_row()
        if row is None:
            plot.lines([], title="latency per grid point", xlabel="grid point", ylabel="ms")
            return
        metrics = self.store.metrics(int(row["run_id"]))
        series = latency_distribution(metrics, [row["build"]])
        # one build at a time: the legend says which percentile, the title which build
        series = [type(s)(s.label.rsplit(" ", 1)[-1], s.x, s.y) for s in series]
        ys = [y for s in series for y in s.y]
        plot.lines(series, title=f"latency ms per batch×streams×threads · run {row['run_id']} "
                                 f"{recipe(row)}",
                   xlabel="batch×streams×threads", ylabel="ms",
                   xticks=grid_labels(metrics, row["build"]), empty="no bench grid recorded",
                   ylim=axis_range(ys, 0.0, None, min_span=1.0))

    def current_row(self) -> dict[str, Any] | None:
        table = self.query_one("#board", DataTable)
        if not self.rows or table.cursor_row is None or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "board" and self.plot_kind == "latency":
            self.draw_plot()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "lb-filter":
            self.apply()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "lb-filter" and not self.filter_problem:
            self.query_one("#board", DataTable).focus()

    # -- actions ---------------------------------------------------------------------------
    def action_cycle_sort(self) -> None:
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)] \
            if self.sort_key in SORT_KEYS else SORT_KEYS[0]
        self.descending = None
        self.apply()

    def action_reverse_sort(self) -> None:
        current = self.descending if self.descending is not None else self.sort_key not in LOWER_IS_BETTER
        self.descending = not current
        self.apply()

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self.apply()

    def action_focus_filter(self) -> None:
        self.query_one("#lb-filter", Input).focus()

    def action_toggle_mark(self) -> None:
        row = self.current_row()
        if row is None:
            return
        k = row_key(row)
        if k in self.marked:
            self.marked.remove(k)
        else:
            self.marked.append(k)
            self.marked = self.marked[-2:]
        self.apply()

    def marked_rows(self) -> list[dict[str, Any]]:
        by_key = {row_key(r): r for r in self.all_rows}
        return [by_key[k] for k in self.marked if k in by_key]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "board":
            self.action_show_detail()

    def action_show_detail(self) -> None:
        from workbench.tui.screens.dialogs import DetailDialog

        row = self.current_row()
        if row is not None:
            run_id = int(row["run_id"])
            cpu = (self.store.machine(run_id) or {}).get("cpu") or {}
            self.app.push_screen(DetailDialog({
                **row, "cpu_name": cpu.get("summary") or cpu.get("model"),
                "gpu_name": gpu_text(self.store.runtime(run_id), str(row.get("build") or ""))}))

    def action_compare(self) -> None:
        from workbench.tui.screens.dialogs import CompareDialog

        rows = self.marked_rows()
        if len(rows) != 2:
            self.app.notify("mark two rows with m first", severity="warning")
            return
        self.app.push_screen(CompareDialog(rows[0], rows[1]))

    def action_write_report(self) -> None:
        """``hrnet-wb report`` for the rows shown, in a thread; its path comes back as a notice."""
        rows = list(self.rows)
        if not rows:
            self.app.notify("no rows shown: nothing to report", severity="warning")
            return
        self.app.notify("writing the report…", timeout=3)
        self.run_worker(lambda: self._write_report(rows), thread=True, group="report",
                        exclusive=True, exit_on_error=False)

    def _write_report(self, rows: list[dict[str, Any]]) -> None:
        from workbench.boundary import describe, one_line
        from workbench.report import report_for_board

        try:
            res = report_for_board(self.store, rows)
        except Exception as exc:  # noqa: BLE001 - one line in a notice, as at the CLI's edge
            self.app.call_from_thread(self.app.notify, f"report: {one_line(describe(exc).message)}",
                                      severity="error", timeout=10)
            return
        self.app.call_from_thread(self.app.notify, f"report written: {res.path}", timeout=20)

    def action_cycle_plot(self) -> None:
        self.plot_kind = PLOTS[(PLOTS.index(self.plot_kind) + 1) % len(PLOTS)]
        self.draw_plot()

    def action_open_in_dataset(self) -> None:
        current = self.current_row()
        rows = self.marked_rows() or ([current] if current else [])
        if not rows:
            return
        vals = [f"{r['run_id']}/{r['build']}" for r in rows]
        self.post_message(OpenRuns(vals[0], vals[1] if len(vals) > 1 else None))


def fit_columns(columns: tuple[ColumnSpec, ...], rows: list[dict[str, Any]],
                width: int) -> tuple[ColumnSpec, ...]:
    """The leading columns that fit ``width`` whole: a column cut at the screen's edge
    reads as another value (hrnet_w18_small as "hrnet_w18"), so it is left out instead
    (the detail dialog has every figure). No width yet (not laid out): all of them."""
    if width <= 0:
        return columns
    kept: list[ColumnSpec] = []
    used = 0
    for col in columns:
        key, header, spec, w = col
        need = (w if w is not None else max([len(header), *(len(cell(r, key, spec)) for r in rows)])) + 2
        if kept and used + need > width:
            break
        kept.append(col)
        used += need
    return tuple(kept)


def gpu_text(runtime: list[dict[str, Any]], build: str) -> str:
    """The GPU a build's speed (else its eval) ran on, as its runtime reported it in the
    store's runtime settings (torch-cuda's ``details.gpu``): name, SMs, memory and the
    GPU's fingerprint; "" when it ran on the CPU."""
    by_stage = {r["stage"]: (r["settings"].get("details") or {}).get("gpu") or {}
                for r in runtime if r["build"] == build}
    for stage in ("bench", "eval"):
        gpu = by_stage.get(stage) or {}
        if gpu.get("name"):
            facts = ", ".join(f for f in (f"{gpu['sm_count']} SMs" if gpu.get("sm_count") else "",
                                          f"{gpu['memory_mib']} MiB" if gpu.get("memory_mib") else "")
                              if f)
            name = gpu["name"] + (f" ({facts})" if facts else "") + (" (eval)" if stage == "eval" else "")
            return " · ".join(x for x in (name, gpu.get("fingerprint")) if x)
    return ""
