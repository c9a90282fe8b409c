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

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual.app import ComposeResult, SystemCommand
from textual.binding import ActiveBinding
from textual.events import Resize
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import TabbedContent, TabPane

from workbench.home import Home
from workbench.tui.app_base import PANES
from workbench.tui.app_queue import QueueOwner
from workbench.tui.commands import COMMANDS, PANE_TITLES, SCOPE_TITLES, bindings
from workbench.tui.jobs import Job
from workbench.tui.screens.models import ModelsPane
from workbench.tui.widgets.deferred import MOUNT_DELAY_S, Deferred
from workbench.tui.widgets.footer import PaneFooter

__all__ = ["Job", "WorkbenchApp"]

# Below this width the footer drops its spacing so the pane keys and F1 still fit.
COMPACT_FOOTER_BELOW = 100
# Between the hidden panes' mounts (see compose).
MOUNT_GAP_S = 0.15
# The profile loads when the footer first shows its keys, or this long after Ready at the
# latest (a footer shows none while the app is not focused, e.g. a background browser tab).
PRELOAD_AFTER_S = 1.0


class MainScreen(Screen[None]):
    """The app's screen. Its one change: the footer lists the keys that work everywhere
    (1234 panes, F1 help, Ctrl+Q) before the focused pane's, so a narrow terminal cuts a
    pane's last key, never the way to another pane or to the help."""

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        found = super().active_bindings
        first = {k: v for k, v in found.items() if (v.binding.id or "").startswith("app.")}
        return {**first, **{k: v for k, v in found.items() if k not in first}}


class WorkbenchApp(QueueOwner):
    """The app: the state and panes (:mod:`workbench.tui.app_base`), the profile
    (:mod:`workbench.tui.app_profile`) and the queue (:mod:`workbench.tui.app_queue`),
    laid out here with the key bindings and the command palette."""

    CSS_PATH = "app.tcss"
    TITLE = "HRNet Workbench"
    # Focus the variant table at start, never a Select (keys 1-4 must switch panes).
    AUTO_FOCUS = "#variants"
    BINDINGS = bindings("app")

    def __init__(self, home: Home | None = None, profile_path: str | Path | None = None,
                 profiles_dir: str | Path | None = None, run_mode: str | None = None) -> None:
        super().__init__(home, profile_path, profiles_dir, run_mode)
        if profile_path:
            self.profile  # noqa: B018  (one the user named: a bad one fails here, before the UI)

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
            # One at a time, so a key waits for one pane's mount (50-150 ms), not three.
            with TabPane(PANE_TITLES["build"], id="build"):
                yield Deferred(self._build_pane, delay=MOUNT_DELAY_S, mounted=self.pane_mounted)
            with TabPane(PANE_TITLES["dataset"], id="dataset"):
                yield Deferred(self._dataset_pane, delay=MOUNT_DELAY_S + MOUNT_GAP_S, mounted=self.pane_mounted)
            with TabPane(PANE_TITLES["leaderboard"], id="leaderboard"):
                yield Deferred(self._leaderboard_pane, delay=MOUNT_DELAY_S + 2 * MOUNT_GAP_S, mounted=self.pane_mounted)
        # compact from the start: switching it restyles every key (the first frame's time)
        yield PaneFooter(show_command_palette=False, compact=self.size.width < COMPACT_FOOTER_BELOW)

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
        self._mounted.add("models")  # composed with the app, mounted before this
        # Focus now, not after a refresh: the footer shows the focused pane's keys, and the
        # Deferred panes (mounted after the first refresh) would otherwise delay it.
        self._focus_pane("models")
        self.models_pane.show_profiles(self._profile_options())

    def on_resize(self, event: Resize) -> None:
        for footer in self.screen_stack[0].query(PaneFooter):
            footer.compact = event.size.width < COMPACT_FOOTER_BELOW

    def on_ready(self) -> None:
        # Ready follows the first frame, but the footer's keys come a frame later.
        self.set_timer(PRELOAD_AFTER_S, self._start_preload)

    def on_pane_footer_keys_shown(self) -> None:
        self._start_preload()

    def _start_preload(self) -> None:
        """Load the profile (pydantic, ~0.25 s) on a daemon thread, once the first full
        frame is on screen: started earlier, the thread took the GIL from the footer.
        The cyclic GC comes back on here, with what start-up made frozen (never walked)."""
        if not self._preload_started:
            self._preload_started = True
            if self.gc_paused:
                import gc

                self.gc_paused = False
                gc.freeze()
                gc.enable()
            self._preload.start(self._preload_profile)

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
