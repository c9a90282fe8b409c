"""The Textual app: four panes over one profile, a run queue, one error modal.

The app owns the state the panes share: the profile being edited (``self.profile``), the
home/store, and the queue of jobs. A queued job runs ``workbench.pipeline.run_profile``
(through :class:`workbench.tui.runner.PipelineJob`) in a thread worker of the
``pipeline`` group; its events come back as bridge messages and are rendered by the
Build pane. One ``Worker.StateChanged`` handler turns every worker error into the error
modal and moves the queue on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from workbench.errors import BadInput, Cancelled
from workbench.events import RunFinished, RunStarted
from workbench.home import Home, resolve_home
from workbench.store import Store
from workbench.tui.bridge import PipelineMessage, ProgressMessage, make_sink
from workbench.tui.commands import COMMANDS, SCOPE_TITLES, bindings
from workbench.tui.runner import PipelineJob
from workbench.tui.screens.error import ErrorModal, describe
from workbench.tui.screens.models import ModelsPane
from workbench.tui.widgets.deferred import Deferred

if TYPE_CHECKING:  # pragma: no cover
    from workbench.profile import Profile
    from workbench.tui.screens.build import BuildPane

PANES = ("models", "build", "dataset", "leaderboard")
PANE_TITLES = {"models": "1 Models", "build": "2 Build", "dataset": "3 Dataset",
               "leaderboard": "4 Leaderboard"}


@dataclass
class Job:
    """One queued run of a snapshot of the profile."""

    id: int
    label: str
    profile: Profile
    profile_path: str
    status: str = "queued"  # queued | running | cancelling | ok | failed | cancelled
    run_id: int | None = None
    pipeline: PipelineJob | None = None
    worker: Worker[Any] | None = None
    error: str = ""


def default_profiles_dir() -> Path:
    """``./profiles`` when it exists (a checkout), else the repository's, else the home's."""
    cwd = Path.cwd() / "profiles"
    if cwd.is_dir():
        return cwd
    repo = Path(__file__).resolve().parents[2] / "profiles"
    if repo.is_dir():
        return repo
    return resolve_home().root / "profiles"


# The hidden panes and their modules load after the first frame (Deferred factories).
def _build_pane() -> Widget:
    from workbench.tui.screens.build import BuildPane

    return BuildPane(id="build-pane")


def _dataset_pane() -> Widget:
    from workbench.tui.screens.dataset import DatasetPane

    return DatasetPane(id="dataset-pane")


def _leaderboard_pane() -> Widget:
    from workbench.tui.screens.leaderboard import LeaderboardPane

    return LeaderboardPane(id="leaderboard-pane")


class WorkbenchApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "HRNet Workbench"
    # Focus the variant table at start, never a Select (keys 1-4 must switch panes).
    AUTO_FOCUS = "#variants"
    BINDINGS = bindings("app")

    def __init__(self, home: Home | None = None, profile_path: str | Path | None = None,
                 profiles_dir: str | Path | None = None, run_mode: str | None = None) -> None:
        super().__init__()
        self.home = home or resolve_home()
        self.store = Store(self.home.db)
        self.profiles_dir = Path(profiles_dir) if profiles_dir else default_profiles_dir()
        self.run_mode = run_mode or os.environ.get("HRNET_WB_RUN_MODE", "process")
        self.jobs: list[Job] = []
        self._quit_after_job = False
        # Loaded on first use, after the first frame: pydantic's import and first schema
        # build cost ~0.25 s that the first frame need not wait for.
        self._profile_arg = profile_path
        self._profile: Profile | None = None
        self._profile_path = ""
        self._profile_lock = threading.Lock()
        if profile_path:
            self.profile  # noqa: B018  (one the user named: a bad one fails here, before the UI)

    @property
    def profile(self) -> Profile:
        """The profile being edited (loaded from ``--profile`` or ``profiles/demo.toml``)."""
        if self._profile is None:
            with self._profile_lock:  # the preload worker and the UI thread may both ask
                if self._profile is None:
                    self._profile, self._profile_path = self._initial_profile(self._profile_arg)
        return self._profile

    @profile.setter
    def profile(self, value: Profile) -> None:
        self._profile = value

    @property
    def profile_path(self) -> str:
        self.profile  # noqa: B018  (loads it)
        return self._profile_path

    @profile_path.setter
    def profile_path(self, value: str) -> None:
        self._profile_path = value

    def _initial_profile(self, path: str | Path | None) -> tuple[Profile, str]:
        from workbench.profile import Profile, load_profile

        candidate = Path(path) if path else self.profiles_dir / "demo.toml"
        if candidate.is_file():
            try:
                return load_profile(candidate), str(candidate)
            except BadInput:
                if path:
                    raise
        return Profile(name="untitled"), ""

    # -- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with TabbedContent(initial="models", id="tabs"):
            with TabPane(PANE_TITLES["models"], id="models"):
                yield ModelsPane(id="models-pane")
            # The hidden panes mount just after the first full frame (Deferred): styling
            # ~400 widgets up front cost seconds of blank screen on a busy 2-core box.
            with TabPane(PANE_TITLES["build"], id="build"):
                yield Deferred(_build_pane)
            with TabPane(PANE_TITLES["dataset"], id="dataset"):
                yield Deferred(_dataset_pane)
            with TabPane(PANE_TITLES["leaderboard"], id="leaderboard"):
                yield Deferred(_leaderboard_pane)
        yield Footer()

    def on_mount(self) -> None:
        # Focus now, not after a refresh: the footer shows the focused pane's keys, and the
        # Deferred panes (mounted after the first refresh) would otherwise delay it.
        self._focus_pane("models")

    def on_ready(self) -> None:
        # Ready follows the first frame. Load the profile (pydantic, ~0.25 s) in a thread so
        # the footer's recompose, which comes next, is not held back by it.
        self._preload_profile()

    @work(thread=True, group="profile", exit_on_error=False)
    def _preload_profile(self) -> None:
        self.profile  # noqa: B018
        self.call_from_thread(self._show_profile)

    def _show_profile(self) -> None:
        self.query_one(ModelsPane).sync_from_profile()

    def pane(self, name: str) -> Any:
        return self.query_one(f"#{name}-pane")

    @property
    def build_pane(self) -> BuildPane:
        return self.query_one("#build-pane")  # type: ignore[return-value]

    def _focus_pane(self, name: str) -> None:
        first = {"models": "#variants", "build": "#queue", "dataset": "#images",
                 "leaderboard": "#board"}[name]
        found = self.query(first)
        if found:
            found.first().focus()
        else:  # a Deferred pane, pressed for in its first half-second: focus once it mounts
            self.set_timer(0.1, lambda: self._focus_pane(name))

    def action_show_pane(self, name: str) -> None:
        self.query_one("#tabs", TabbedContent).active = name
        self._focus_pane(name)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        pane_id = event.pane.id or "models"
        if pane_id in PANES:
            self.call_after_refresh(self._focus_pane, pane_id)

    def action_help(self) -> None:
        from workbench.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def action_help_quit(self) -> None:
        self.notify("Ctrl+Q quits (a running build is cancelled first).", timeout=3)

    # -- the command palette: the same registry as the bindings ---------------------------
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        active = self.query_one("#tabs", TabbedContent).active if screen is self.screen else ""
        for cmd in COMMANDS:
            if cmd.scope == "dialog" or cmd.id in ("app.palette", "app.help_q", "app.help_quit"):
                continue
            where = SCOPE_TITLES[cmd.scope].split()[0]
            yield SystemCommand(f"{where}: {cmd.title}", cmd.tooltip,
                                lambda c=cmd: self._run_command(c.scope, c.action),
                                discover=cmd.scope in ("app", active))
        yield from super().get_system_commands(screen)

    def _run_command(self, scope: str, action: str) -> None:
        if scope == "app":
            self.call_later(self.run_action, action)
            return
        self.action_show_pane(scope)
        self.call_later(self.run_action, action, self.pane(scope))

    # -- profiles ----------------------------------------------------------------------
    def load_profile_file(self, path: str) -> None:
        self._load_profile(path)

    @work(thread=True, group="io", exit_on_error=False)
    def _load_profile(self, path: str) -> None:
        from workbench.profile import load_profile

        prof = load_profile(path)
        self.call_from_thread(self._use_profile, prof, path)

    def _use_profile(self, prof: Profile, path: str) -> None:
        self.profile, self.profile_path = prof, path
        for pane in self.query(ModelsPane):
            pane.sync_from_profile()
        for bp in self.query("#build-pane"):  # absent for a moment at start (Deferred)
            bp.sync_from_profile()
        self.notify(f"profile {Path(path).name} loaded", timeout=2)

    def save_profile_as(self, name: str) -> None:
        self._save_profile(name)

    @work(thread=True, group="io", exit_on_error=False)
    def _save_profile(self, name: str) -> None:
        from workbench.atomic import write_text
        from workbench.tui.profile_toml import profile_to_toml

        target = self.profiles_dir / f"{name}.toml"
        if target.exists():
            raise BadInput(f"{target}: a profile with that name exists; pick another name")
        prof = self.profile.model_copy(deep=True)
        prof.name = name
        write_text(target, profile_to_toml(prof, "Saved from the hrnet-wb TUI.\n"
                                                 f"  hrnet-wb run --profile {target}"))
        self.call_from_thread(self._saved, prof, str(target))

    def _saved(self, prof: Profile, path: str) -> None:
        self.profile, self.profile_path = prof, path
        models = self.query_one(ModelsPane)
        models.reload_profiles()
        models.sync_from_profile()
        self.notify(f"saved {path}", timeout=3)

    # -- the queue ---------------------------------------------------------------------
    def queue_current(self) -> Job:
        prof = self.profile.model_copy(deep=True)
        m, b = prof.model, prof.build
        label = f"{prof.name or 'run'} {m.variant.removeprefix('hrnet_')} {b.backend}-{b.dtype}"
        job = Job(len(self.jobs) + 1, label, prof, self.profile_path)
        self.jobs.append(job)
        self.action_show_pane("build")
        self.build_pane.refresh_queue()
        self.start_next()
        return job

    def running_job(self) -> Job | None:
        return next((j for j in self.jobs if j.status in ("running", "cancelling")), None)

    def start_next(self) -> None:
        if self.running_job() is not None:
            return
        job = next((j for j in self.jobs if j.status == "queued"), None)
        if job is None:
            return
        job.pipeline = PipelineJob(job.profile, self.home, make_sink(self, job.id),
                                   job.profile_path, mode=self.run_mode)
        job.status = "running"
        job.worker = self.run_job(job)
        self.build_pane.refresh_queue()

    @work(thread=True, exclusive=True, group="pipeline", exit_on_error=False)
    def run_job(self, job: Job) -> dict[str, Any]:
        """The same ``run_profile`` the CLI runs; errors go to the state handler."""
        assert job.pipeline is not None
        return job.pipeline.run()

    def cancel_running(self) -> bool:
        job = self.running_job()
        if job is None or job.pipeline is None:
            self.notify("nothing is running", severity="warning", timeout=2)
            return False
        if job.status != "cancelling":
            job.status = "cancelling"
            job.pipeline.cancel()
            self.build_pane.refresh_queue()
            self.notify(f"cancelling #{job.id}…", timeout=2)
        return True

    def clear_queue(self) -> None:
        before = len(self.jobs)
        self.jobs = [j for j in self.jobs if j.status != "queued"]
        self.build_pane.refresh_queue()
        self.notify(f"dropped {before - len(self.jobs)} queued run(s)", timeout=2)

    async def action_quit(self) -> None:
        if self.cancel_running():
            self._quit_after_job = True
            return
        self.exit()

    # -- events from the pipeline ------------------------------------------------------
    def _job(self, job_id: int) -> Job | None:
        return next((j for j in self.jobs if j.id == job_id), None)

    def on_pipeline_message(self, message: PipelineMessage) -> None:
        self._apply(message)

    def on_progress_message(self, message: ProgressMessage) -> None:
        self._apply(message)

    def _apply(self, message: PipelineMessage) -> None:
        job = self._job(message.job_id)
        if job is None:
            return
        ev = message.event
        if isinstance(ev, RunStarted):
            job.run_id = ev.run_id
        elif isinstance(ev, RunFinished):
            job.status = ev.status if job.status != "cancelling" or ev.status == "cancelled" else job.status
        self.build_pane.apply(job, ev)

    # -- the one worker-state handler ----------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker, state = event.worker, event.state
        if worker.group == "pipeline":
            self._pipeline_state(worker, state)
            return
        if state == WorkerState.ERROR and worker.error is not None:
            title, msg = describe(worker.error)
            self.push_screen(ErrorModal(title, msg))

    def _pipeline_state(self, worker: Worker[Any], state: WorkerState) -> None:
        job = next((j for j in self.jobs if j.worker is worker), None)
        if job is None or state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        outcome = job.pipeline.outcome if job.pipeline else None
        if state == WorkerState.SUCCESS:
            job.status = "ok"
            self.notify(f"run {job.run_id} finished", timeout=3)
        elif isinstance(worker.error, Cancelled) or state == WorkerState.CANCELLED:
            job.status = "cancelled"
            latency = outcome.cancel_latency_s if outcome else None
            how = f" in {latency:.1f} s" if latency is not None else ""
            self.build_pane.log_line(f"run {job.run_id} cancelled{how} "
                                     f"({outcome.stopped_by if outcome else ''})", "yellow")
            self.notify(f"run {job.run_id} cancelled{how}", timeout=3)
        else:
            job.status = "failed"
            error = worker.error or RuntimeError("unknown error")
            title, msg = describe(error)
            job.error = msg
            detail = ""
            if job.run_id is not None:
                row = self.store.run_record(job.run_id)
                tb = Path(row["out_dir"]) / "traceback.txt" if row and row.get("out_dir") else None
                detail = f"run {job.run_id} recorded as failed"
                if tb is not None and tb.is_file():
                    detail += f"; traceback: {tb}"
            self.push_screen(ErrorModal(title, msg, detail))
        self.build_pane.refresh_queue()
        self.refresh_results(job)
        if self._quit_after_job:
            self.exit()
            return
        self.start_next()

    def refresh_results(self, job: Job | None = None) -> None:
        """Re-read the store; a finished run becomes the Dataset pane's A (its target build)
        and B (its fp32 reference), so the two are side by side without any key press."""
        from workbench.tui.results import builds_in

        self.query_one("#leaderboard-pane").reload()  # type: ignore[attr-defined]
        a = b = None
        if job is not None and job.run_id is not None:
            row = self.store.run_record(job.run_id)
            built = [bd["name"] for bd in (row or {}).get("summary", {}).get("builds", [])]
            have = set(builds_in(row["out_dir"])) if row else set()
            built = [n for n in built if n in have]
            if built:
                a = f"{job.run_id}/{built[-1]}"
                b = f"{job.run_id}/{built[0]}" if len(built) > 1 else None
        self.query_one("#dataset-pane").reload(a, b)  # type: ignore[attr-defined]

    def open_in_dataset(self, a: str, b: str | None = None) -> None:
        self.action_show_pane("dataset")
        self.query_one("#dataset-pane").open_runs(a, b)  # type: ignore[attr-defined]
