"""Build pane: export settings and build recipe, the run queue, per-stage progress, live log.

It renders the same events the CLI's ``EventPrinter`` renders (workbench/cli/render.py):
StageStarted/Progress/StageFinished drive one progress row per stage, LogLine goes to
the log with the same ``[stage]`` prefix and level styles, Failed and RunFinished close
the run. The pane holds no run logic: the app owns the queue and the worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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
from workbench.tui.messages import CancelRun, ClearQueue, ProfileEdited, QueueRun
from workbench.tui.widgets.stages import StageRow

if TYPE_CHECKING:  # pragma: no cover
    from workbench.profile import Profile
    from workbench.tui.jobs import Job

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

    def __init__(self, profile: Profile, jobs: Sequence[Job], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.profile = profile
        self.jobs: Sequence[Job] = jobs
        self._syncing = False
        self._shown: dict[str, Any] = {}  # field -> the value the pane last showed
        self._is_ready = False

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
        # after a refresh: the Selects' own children exist only then
        self.call_after_refresh(self._ready)

    def _ready(self) -> None:
        self._is_ready = True
        self.show_profile(self.profile)
        self.show_queue(self.jobs)

    def show_profile(self, profile: Profile) -> None:
        """Show the app's profile (it owns it; edits go back as ProfileEdited messages)."""
        self.profile = p = profile
        if not self._is_ready:  # not composed yet: _ready shows it
            return
        self._shown = {f: _dotted(p, f) for f in self.FIELDS.values()}
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
    FIELDS = {"backend": "build.backend", "dtype": "build.dtype",
              "calib-method": "build.calibration.method", "opset": "export.opset",
              "reference": "build.reference", "dynamic-batch": "export.dynamic_batch",
              "calib-count": "build.calibration.count"}

    def _edit(self, widget_id: str | None, value: Any) -> None:
        if widget_id not in self.FIELDS:
            return
        field = self.FIELDS[widget_id]
        # A widget event that only repeats what the pane last showed is no edit: its
        # compose-time default could otherwise land on a profile loaded meanwhile.
        if not self._shown or self._shown.get(field, _UNSET) == value:
            return  # before the first show_profile every event is a compose-time default
        self._shown[field] = value
        self.post_message(ProfileEdited(field, value))

    def on_select_changed(self, event: Select.Changed) -> None:
        # Changed is a message: one from the compose-time default can arrive after the
        # profile was shown; only the widget's current value is the user's.
        if self._syncing or event.value == Select.NULL or event.value != event.select.value:
            return
        self._edit(event.select.id, event.value)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if not self._syncing and event.value == event.checkbox.value:
            self._edit(event.checkbox.id, event.value)

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._syncing or event.input.id != "calib-count" or event.value != event.input.value:
            return
        if event.value.isdigit() and int(event.value) >= 1:
            self._edit("calib-count", int(event.value))

    # -- queue ---------------------------------------------------------------------------
    def show_queue(self, jobs: Sequence[Job]) -> None:
        self.jobs = jobs
        if not self._is_ready:
            return
        ol = self.query_one("#queue", OptionList)
        highlighted = ol.highlighted
        ol.clear_options()
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
                value = 100 * ev.value if ev.unit == "fraction" else ev.value  # shown in %
                self.log_line(f"[{ev.stage or 'metric'}] {ev.build}: {SHOWN_METRICS[ev.name]} "
                              f"{value:.2f}", "cyan")
        elif isinstance(ev, Failed):
            state = "cancelled" if ev.exit_code == 130 else "failed"
            for s in STAGES:
                row = self.query_one(f"#stage-{s}", StageRow)
                if row.state == "running":
                    row.set(state=state)
            self.log_line(f"error: {ev.message}", "bold red")
        elif isinstance(ev, RunFinished) and ev.status != "cancelled":
            # a cancel is logged once, by the app, with the time the stop took
            self.log_line(f"run {ev.run_id} {ev.status} in {ev.seconds:.1f} s", "bold")

    def _row(self, stage: str) -> StageRow:
        if stage not in STAGES:
            stage = STAGES[0]
        return self.query_one(f"#stage-{stage}", StageRow)

    # -- actions -------------------------------------------------------------------------
    def action_queue_run(self) -> None:
        self.post_message(QueueRun())

    def action_cancel_run(self) -> None:
        self.post_message(CancelRun())

    def action_clear_queue(self) -> None:
        self.post_message(ClearQueue())


_UNSET = object()


def _dotted(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
    return obj
