"""Build pane: export settings and build recipe, the run queue, per-stage progress, live log.

It renders the same events the CLI's ``EventPrinter`` renders (workbench/cli/render.py):
StageStarted/Progress/StageFinished drive one progress row per stage, LogLine goes to
the log with the same ``[stage]`` prefix and level styles, Failed and RunFinished close
the run. The pane holds no run logic: the app owns the queue and the worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, Input, Label, OptionList, RichLog, Select

from workbench.backends import DEFAULT_BACKEND, build_backend_names
from workbench.events import (
    ArtifactWritten,
    Event,
    Failed,
    LogLine,
    MetricRecorded,
    Progress,
    RunFinished,
    RunStarted,
    StageFinished,
    StageStarted,
)
from workbench.pipeline import STAGES
from workbench.tui.commands import bindings
from workbench.tui.widgets.stages import StageRow

if TYPE_CHECKING:  # pragma: no cover
    from workbench.tui.app import Job, WorkbenchApp

BACKENDS = build_backend_names()
DTYPES = ("fp32", "fp16", "int8")
CALIB = ("percentile", "minmax", "entropy")
OPSETS = tuple(range(20, 8, -1))
LEVEL_STYLE = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red"}
SHOWN_METRICS = {"top1": "top-1 %", "throughput": "img/s", "p50_ms": "p50 ms", "vs_torch": "× torch"}
STATUS_GLYPH = {"queued": "·", "running": "▶", "cancelling": "■", "ok": "✓", "failed": "✗",
                "cancelled": "■", "interrupted": "■"}


class BuildPane(Vertical):
    BINDINGS = bindings("build")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._syncing = False

    @property
    def wb(self) -> WorkbenchApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-row"):
            yield Label("Backend", classes="field-label")
            yield Select([(b, b) for b in BACKENDS], value=DEFAULT_BACKEND, allow_blank=False,
                         id="backend", compact=True, type_to_search=False)
            yield Label("dtype", classes="field-label-s")
            yield Select([(d, d) for d in DTYPES], value="fp32", allow_blank=False, id="dtype",
                         compact=True, type_to_search=False)
            yield Checkbox("fp32 ref", True, id="reference", compact=True)
        with Horizontal(classes="field-row"):
            yield Label("Calib", classes="field-label")
            yield Select([(c, c) for c in CALIB], value="percentile", allow_blank=False,
                         id="calib-method", compact=True, type_to_search=False)
            yield Label("n", classes="field-label-s")
            yield Input("4", id="calib-count", compact=True, restrict=r"[0-9]*", max_length=6)
            yield Label("opset", classes="field-label-s")
            yield Select([(str(o), o) for o in OPSETS], value=17, allow_blank=False, id="opset",
                         compact=True, type_to_search=False)
            yield Checkbox("dyn batch", True, id="dynamic-batch", compact=True)
        with Horizontal(id="build-middle"):
            with Vertical(id="stages"):
                for s in STAGES:
                    yield StageRow(s, id=f"stage-{s}")
            yield OptionList(id="queue")
        yield RichLog(id="log", max_lines=2000, wrap=True, markup=False, highlight=False,
                      min_width=20)

    def on_mount(self) -> None:
        self.sync_from_profile()
        self.refresh_queue()

    def sync_from_profile(self) -> None:
        p = self.wb.profile
        self._syncing = True
        try:
            self.query_one("#backend", Select).value = p.build.backend if p.build.backend in BACKENDS else DEFAULT_BACKEND
            self.query_one("#dtype", Select).value = p.build.dtype
            self.query_one("#reference", Checkbox).value = p.build.reference
            self.query_one("#calib-method", Select).value = p.build.calibration.method
            self.query_one("#calib-count", Input).value = str(p.build.calibration.count)
            self.query_one("#opset", Select).value = p.export.opset
            self.query_one("#dynamic-batch", Checkbox).value = p.export.dynamic_batch
        finally:
            self._syncing = False

    # -- widgets → profile -------------------------------------------------------------
    def on_select_changed(self, event: Select.Changed) -> None:
        if self._syncing or event.value == Select.NULL:
            return
        p = self.wb.profile
        sid = event.select.id
        if sid == "backend":
            p.build.backend = event.value  # type: ignore[assignment]
        elif sid == "dtype":
            p.build.dtype = event.value  # type: ignore[assignment]
        elif sid == "calib-method":
            p.build.calibration.method = event.value  # type: ignore[assignment]
        elif sid == "opset":
            p.export.opset = int(event.value)  # type: ignore[arg-type]

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if self._syncing:
            return
        if event.checkbox.id == "reference":
            self.wb.profile.build.reference = event.value
        elif event.checkbox.id == "dynamic-batch":
            self.wb.profile.export.dynamic_batch = event.value

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._syncing or event.input.id != "calib-count":
            return
        if event.value.isdigit() and int(event.value) >= 1:
            self.wb.profile.build.calibration.count = int(event.value)

    # -- queue ---------------------------------------------------------------------------
    def refresh_queue(self) -> None:
        ol = self.query_one("#queue", OptionList)
        highlighted = ol.highlighted
        ol.clear_options()
        jobs = self.wb.jobs
        if not jobs:
            ol.add_option("queue empty: r queues a run")
        for job in jobs:
            run = f" r{job.run_id}" if job.run_id is not None else ""
            ol.add_option(f"{STATUS_GLYPH.get(job.status, '?')} #{job.id} {job.label}{run} {job.status}")
        if highlighted is not None and highlighted < ol.option_count:
            ol.highlighted = highlighted

    # -- events --------------------------------------------------------------------------
    def log_line(self, text: str, style: str = "") -> None:
        self.query_one("#log", RichLog).write(Text(text, style=style))

    def apply(self, job: Job, ev: Event) -> None:
        """Render one pipeline event (called on the UI thread by the app)."""
        if isinstance(ev, RunStarted):
            for s in STAGES:
                self.query_one(f"#stage-{s}", StageRow).reset()
            self.log_line(f"run {ev.run_id}: {ev.profile_path or job.label}", "bold")
            self.refresh_queue()
        elif isinstance(ev, StageStarted):
            self._row(ev.stage).set(state="running", total=ev.total, done=0, note=ev.description)
        elif isinstance(ev, Progress):
            self._row(ev.stage).set(state="running", done=ev.done, total=ev.total)
        elif isinstance(ev, StageFinished):
            self._row(ev.stage).set(state="done", seconds=ev.seconds, note="")
        elif isinstance(ev, LogLine):
            prefix = "warning: " if ev.level == "warning" else ""
            self.log_line(f"[{ev.stage}] {prefix}{ev.message}", LEVEL_STYLE.get(ev.level, ""))
        elif isinstance(ev, ArtifactWritten):
            tag = " (cached)" if ev.cached else ""
            self.log_line(f"[{ev.stage}] wrote {ev.kind}{tag}: {ev.name or ev.path}", "dim")
        elif isinstance(ev, MetricRecorded):
            if ev.name in SHOWN_METRICS:
                self.log_line(f"[{ev.stage or 'metric'}] {ev.build}: {SHOWN_METRICS[ev.name]} "
                              f"{ev.value:.2f}", "cyan")
        elif isinstance(ev, Failed):
            state = "cancelled" if ev.exit_code == 130 else "failed"
            for s in STAGES:
                row = self.query_one(f"#stage-{s}", StageRow)
                if row.state == "running":
                    row.set(state=state)
            self.log_line(f"error: {ev.message}", "bold red")
        elif isinstance(ev, RunFinished):
            self.log_line(f"run {ev.run_id} {ev.status} in {ev.seconds:.1f} s", "bold")
            self.refresh_queue()

    def _row(self, stage: str) -> StageRow:
        if stage not in STAGES:
            stage = STAGES[0]
        return self.query_one(f"#stage-{stage}", StageRow)

    # -- actions -------------------------------------------------------------------------
    def action_queue_run(self) -> None:
        self.wb.queue_current()

    def action_cancel_run(self) -> None:
        self.wb.cancel_running()

    def action_clear_queue(self) -> None:
        self.wb.clear_queue()
