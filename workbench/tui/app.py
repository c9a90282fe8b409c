"""The Textual app: four panes over one profile, a run queue, one error modal.

The app owns the state the panes share: the profile being edited (``self.profile``), the
home/store, and the queue of jobs. Panes show what the app hands them and post messages
(:mod:`workbench.tui.messages`) for what the user asks; no pane imports this module. A
queued job runs ``workbench.pipeline.run_profile`` (through
:class:`workbench.tui.runner.PipelineJob`) in a thread worker of the ``pipeline`` group;
its events come back as bridge messages and are rendered by the Build pane. One
``Worker.StateChanged`` handler turns every worker error into the error modal and moves
the queue on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import ActiveBinding
from textual.events import Resize
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from workbench.errors import BadInput, Cancelled
from workbench.events import RunFinished, RunStarted
from workbench.home import Home, resolve_home
from workbench.store import Store
from workbench.tui import profiles
from workbench.tui.background import Background
from workbench.tui.bridge import PipelineMessage, ProgressMessage, make_sink
from workbench.tui.commands import COMMANDS, PANE_TITLES, SCOPE_TITLES, bindings
from workbench.tui.jobs import Job
from workbench.tui.messages import (
    BackgroundFailed,
    CancelRun,
    ClearQueue,
    LoadProfile,
    OpenRuns,
    ProfileEdited,
    QueueRun,
    SaveProfileRequested,
)
from workbench.tui.runner import PipelineJob
from workbench.tui.screens.error import ErrorModal, describe
from workbench.tui.screens.models import ModelsPane
from workbench.tui.widgets.deferred import Deferred

if TYPE_CHECKING:  # pragma: no cover
    from workbench.profile import Profile
    from workbench.tui.screens.build import BuildPane
    from workbench.tui.screens.dataset import DatasetPane
    from workbench.tui.screens.leaderboard import LeaderboardPane

__all__ = ["Job", "WorkbenchApp"]

PANES = ("models", "build", "dataset", "leaderboard")
FIRST_FOCUS = {"models": "#variants", "build": "#queue", "dataset": "#images",
               "leaderboard": "#board"}
# Below this width the footer drops its spacing so the pane keys and F1 still fit.
COMPACT_FOOTER_BELOW = 100


class MainScreen(Screen[None]):
    """The app's screen. Its one change: the footer lists the keys that work everywhere
    (1234 panes, F1 help, Ctrl+Q) before the focused pane's, so a narrow terminal cuts a
    pane's last key, never the way to another pane or to the help."""

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        found = super().active_bindings
        first = {k: v for k, v in found.items() if (v.binding.id or "").startswith("app.")}
        return {**first, **{k: v for k, v in found.items() if k not in first}}


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
        # Saved profiles go to the home; they are listed from there and from ./profiles.
        self.save_dir = profiles.home_profiles(self.home)
        self.profiles_dir = Path(profiles_dir) if profiles_dir else Path.cwd() / "profiles"
        self.run_mode = run_mode or os.environ.get("HRNET_WB_RUN_MODE", "process")
        self.jobs: list[Job] = []
        self._quit_after_job = False
        self._panes: dict[str, Widget] = {}
        # hrnet-wb (workbench.tui.launch) sets this: Ctrl+Q with nothing running ends the
        # process at once. Tests and embedders keep Textual's own shutdown.
        self.exit_process_on_quit = False
        # Loaded on first use, after the first frame: pydantic's import and first schema
        # build cost ~0.25 s that the first frame need not wait for.
        self._profile_arg = profile_path
        self._profile: Profile | None = None
        self._profile_path = ""
        self._profile_lock = threading.Lock()
        self._preload = Background("hrnet-wb-profile")
        if profile_path:
            self.profile  # noqa: B018  (one the user named: a bad one fails here, before the UI)

    @property
    def profile(self) -> Profile:
        """The profile being edited (loaded from ``--profile`` or a ``demo.toml``)."""
        if self._profile is None:
            with self._profile_lock:  # the preload thread and the UI thread may both ask
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

        candidates = [Path(path)] if path else profiles.demo_candidates(self.save_dir,
                                                                        self.profiles_dir)
        for candidate in candidates:
            if candidate.is_file():
                try:
                    return load_profile(candidate), str(candidate)
                except BadInput:
                    if path:
                        raise
        return Profile(name="untitled"), ""

    # -- layout ------------------------------------------------------------------------
    def get_default_screen(self) -> Screen[Any]:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="models", id="tabs"):
            with TabPane(PANE_TITLES["models"], id="models"):
                self._panes["models"] = models = ModelsPane(self.home, id="models-pane")
                yield models
            # The hidden panes mount just after the first full frame (Deferred): styling
            # ~400 widgets up front cost seconds of blank screen on a busy 2-core box.
            with TabPane(PANE_TITLES["build"], id="build"):
                yield Deferred(self._build_pane)
            with TabPane(PANE_TITLES["dataset"], id="dataset"):
                yield Deferred(self._dataset_pane)
            with TabPane(PANE_TITLES["leaderboard"], id="leaderboard"):
                yield Deferred(self._leaderboard_pane)
        yield Footer(show_command_palette=False)

    # The hidden panes and their modules load after the first frame (Deferred factories).
    # The app keeps its panes (it talks down to them directly; they talk up by message).
    def _build_pane(self) -> Widget:
        from workbench.tui.screens.build import BuildPane

        self._panes["build"] = pane = BuildPane(self.profile, self.jobs, id="build-pane")
        return pane

    def _dataset_pane(self) -> Widget:
        from workbench.tui.screens.dataset import DatasetPane

        self._panes["dataset"] = pane = DatasetPane(self.store, id="dataset-pane")
        return pane

    def _leaderboard_pane(self) -> Widget:
        from workbench.tui.screens.leaderboard import LeaderboardPane

        self._panes["leaderboard"] = pane = LeaderboardPane(self.store, id="leaderboard-pane")
        return pane

    def on_mount(self) -> None:
        # Focus now, not after a refresh: the footer shows the focused pane's keys, and the
        # Deferred panes (mounted after the first refresh) would otherwise delay it.
        self._focus_pane("models")
        self.models_pane.show_profiles(self._profile_options())

    def on_resize(self, event: Resize) -> None:
        for footer in self.screen_stack[0].query(Footer):
            footer.compact = event.size.width < COMPACT_FOOTER_BELOW

    def on_ready(self) -> None:
        # Ready follows the first frame. Load the profile (pydantic, ~0.25 s) on a daemon
        # thread so the footer's recompose, which comes next, is not held back by it.
        self._preload.start(self._preload_profile)

    def _preload_profile(self, _cancelled: Callable[[], bool]) -> None:
        try:
            self.profile  # noqa: B018
        except Exception as exc:  # noqa: BLE001 - shown in the error modal
            self.post_message(BackgroundFailed(exc))
            return
        self.call_later(self._show_profile)  # call_later is thread-safe via the message queue

    def _show_profile(self) -> None:
        self.models_pane.show_profile(self.profile, self.profile_path)
        if self.build_pane is not None:  # absent for a moment at start (Deferred)
            self.build_pane.show_profile(self.profile)

    @property
    def models_pane(self) -> ModelsPane:
        pane = self._panes["models"]
        assert isinstance(pane, ModelsPane)
        return pane

    @property
    def build_pane(self) -> BuildPane | None:
        return self._panes.get("build")  # type: ignore[return-value]

    @property
    def dataset_pane(self) -> DatasetPane | None:
        return self._panes.get("dataset")  # type: ignore[return-value]

    @property
    def leaderboard_pane(self) -> LeaderboardPane | None:
        return self._panes.get("leaderboard")  # type: ignore[return-value]

    @property
    def tabs(self) -> TabbedContent:
        """The tabs, on the app's own screen (a dialog may be on top)."""
        return self.screen_stack[0].query_one("#tabs", TabbedContent)

    def pane(self, name: str) -> Widget:
        return self._panes[name]

    def _focus_pane(self, name: str) -> None:
        found = self.screen_stack[0].query(FIRST_FOCUS[name])
        if found:
            found.first().focus()
        else:  # a Deferred pane, pressed for in its first half-second: focus once it mounts
            self.set_timer(0.1, lambda: self._focus_pane(name))

    def action_show_pane(self, name: str) -> None:
        self.tabs.active = name
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

    def action_leave_field(self) -> None:
        """Esc in a text field: back to the pane's main widget (keys work again)."""
        active = self.tabs.active
        if active in PANES:
            self._focus_pane(active)

    # -- the command palette: the same registry as the bindings ---------------------------
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        active = self.tabs.active if screen is self.screen else ""
        for cmd in COMMANDS:
            if cmd.scope == "dialog" or cmd.id in ("app.palette", "app.help_q", "app.help_quit",
                                                   "app.leave_field"):
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

    # -- profiles: the app owns the profile; panes ask by message -------------------------
    def on_profile_edited(self, message: ProfileEdited) -> None:
        from pydantic import ValidationError

        try:
            profiles.set_field(self.profile, message.field, message.value)
        except (ValidationError, ValueError, AttributeError) as exc:
            self.notify(f"{message.field}: {profiles.first_error(exc)}", severity="error", timeout=4)
        if message.field.startswith("model."):
            self.models_pane.show_profile(self.profile, self.profile_path)

    def on_load_profile(self, message: LoadProfile) -> None:
        self._load_profile(message.path)

    @work(thread=True, group="io", exit_on_error=False)
    def _load_profile(self, path: str) -> None:
        from workbench.profile import load_profile

        prof = load_profile(path)
        self.call_from_thread(self._use_profile, prof, path)

    def _use_profile(self, prof: Profile, path: str) -> None:
        self.profile, self.profile_path = prof, path
        self._show_profile()
        self.notify(f"profile {path} loaded", timeout=3)

    def _profile_options(self) -> list[tuple[str, str]]:
        return profiles.options(self.save_dir, self.profiles_dir)

    def on_save_profile_requested(self, _message: SaveProfileRequested) -> None:
        from workbench.tui.screens.dialogs import ProfileNameDialog

        def saved(path: Path | None) -> None:
            if path is None:
                return
            from workbench.profile import load_profile

            self.profile, self.profile_path = load_profile(path), str(path)
            models = self.models_pane
            models.show_profiles(self._profile_options())
            self._show_profile()
            self.notify(f"saved {path}", timeout=4)

        self.push_screen(ProfileNameDialog(self.save_dir, profiles.suggest_name(self.profile,
                                                                                self.save_dir),
                                           lambda name: profiles.save(self.profile, self.save_dir,
                                                                      name)),
                         saved)

    # -- the queue ---------------------------------------------------------------------
    def on_queue_run(self, _message: QueueRun) -> None:
        self.queue_current()

    def on_cancel_run(self, _message: CancelRun) -> None:
        self.cancel_running()

    def on_clear_queue(self, _message: ClearQueue) -> None:
        self.clear_queue()

    def on_open_runs(self, message: OpenRuns) -> None:
        self.open_in_dataset(message.a, message.b)

    def on_background_failed(self, message: BackgroundFailed) -> None:
        title, msg = describe(message.error)
        self.push_screen(ErrorModal(title, msg))

    def _show_queue(self) -> None:
        if self.build_pane is not None:
            self.build_pane.show_queue(self.jobs)

    def queue_current(self) -> Job:
        prof = self.profile.model_copy(deep=True)
        m, b = prof.model, prof.build
        label = f"{prof.name or 'run'} {m.variant.removeprefix('hrnet_')} {b.backend}-{b.dtype}"
        job = Job(len(self.jobs) + 1, label, prof, self.profile_path)
        self.jobs.append(job)
        self.action_show_pane("build")
        self._show_queue()
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
        self._show_queue()

    @work(thread=True, exclusive=True, group="pipeline", exit_on_error=False)
    def run_job(self, job: Job) -> dict[str, Any]:
        """The same ``run_profile`` the CLI runs; errors go to the state handler."""
        assert job.pipeline is not None
        return job.pipeline.run()

    def cancel_running(self, quiet: bool = False) -> bool:
        job = self.running_job()
        if job is None or job.pipeline is None:
            if not quiet:
                self.notify("nothing is running", severity="warning", timeout=2)
            return False
        if job.status != "cancelling":
            job.status = "cancelling"
            job.pipeline.cancel()
            self._show_queue()
            self.notify(f"cancelling #{job.id}…", timeout=2)
        return True

    def clear_queue(self) -> None:
        before = len(self.jobs)
        self.jobs = [j for j in self.jobs if j.status != "queued"]
        self._show_queue()
        self.notify(f"dropped {before - len(self.jobs)} queued run(s)", timeout=2)

    async def action_quit(self) -> None:
        """Quit now; a running build is cancelled first (its record says cancelled).
        Counting and loading run on daemon threads, so nothing else holds the exit."""
        if self.cancel_running(quiet=True):
            self._quit_after_job = True
            return
        self.models_pane.stop_counting()
        if self.exit_process_on_quit and self._driver is not None:
            # Nothing is running and everything is on disk: restore the terminal and end
            # the process, instead of tearing ~400 widgets down one by one first.
            from workbench.tui import end_process

            self._driver.stop_application_mode()
            end_process(0)
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
        if self.build_pane is not None:
            self.build_pane.apply(job, ev)
        if isinstance(ev, (RunStarted, RunFinished)):
            self._show_queue()

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
            how = f" {latency:.1f} s after the request" if latency is not None else ""
            by = f" ({outcome.stopped_by})" if outcome and outcome.stopped_by else ""
            if self.build_pane is not None:
                self.build_pane.log_line(f"run {job.run_id} cancelled{how}{by}", "yellow")
            self.notify(f"run {job.run_id} cancelled", timeout=3)
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
        self._show_queue()
        self.refresh_results(job)
        if self._quit_after_job:
            self.exit()
            return
        self.start_next()

    def refresh_results(self, job: Job | None = None) -> None:
        """Re-read the store; a finished run becomes the Dataset pane's A (its target build)
        and B (its fp32 reference), so the two are side by side without any key press."""
        from workbench.tui.results import builds_in

        if self.leaderboard_pane is not None:
            self.leaderboard_pane.reload()
        a = b = None
        if job is not None and job.run_id is not None:
            row = self.store.run_record(job.run_id)
            built = [bd["name"] for bd in (row or {}).get("summary", {}).get("builds", [])]
            have = set(builds_in(row["out_dir"])) if row else set()
            built = [n for n in built if n in have]
            if built:
                a = f"{job.run_id}/{built[-1]}"
                b = f"{job.run_id}/{built[0]}" if len(built) > 1 else None
        if self.dataset_pane is not None:
            self.dataset_pane.reload(a, b)

    def open_in_dataset(self, a: str, b: str | None = None) -> None:
        self.action_show_pane("dataset")
        if self.dataset_pane is not None:
            self.dataset_pane.open_runs(a, b)
