"""The app's state and its panes: the base of :class:`workbench.tui.app.WorkbenchApp`.

It holds what the panes share (home, store, save dir, run mode, the job list) and the
handles on the panes themselves, and moves focus between them. The profile it owns is in
:mod:`workbench.tui.app_profile`, the queue in :mod:`workbench.tui.app_queue`.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.widget import Widget
from textual.widgets import TabbedContent

from workbench.home import Home, resolve_home
from workbench.tui import profiles
from workbench.tui.background import Background
from workbench.tui.jobs import Job
from workbench.tui.screens.models import ModelsPane

if TYPE_CHECKING:  # pragma: no cover
    from workbench.profile import Profile
    from workbench.store import Store
    from workbench.tui.screens.build import BuildPane
    from workbench.tui.screens.dataset import DatasetPane
    from workbench.tui.screens.leaderboard import LeaderboardPane

__all__ = ["FIRST_FOCUS", "PANES", "AppBase"]

PANES = ("models", "build", "dataset", "leaderboard")
FIRST_FOCUS = {"models": "#variants", "build": "#queue", "dataset": "#images",
               "leaderboard": "#board"}


class AppBase(App[None]):
    """State and panes; no layout, no handlers (those are in the subclasses)."""

    def __init__(self, home: Home | None = None, profile_path: str | Path | None = None,
                 profiles_dir: str | Path | None = None, run_mode: str | None = None) -> None:
        super().__init__()
        self.home = home or resolve_home()
        # Saved profiles go to the home; they are listed from there and from ./profiles.
        self.save_dir = profiles.home_profiles(self.home)
        self.profiles_dir = Path(profiles_dir) if profiles_dir else Path.cwd() / "profiles"
        self.run_mode = run_mode or os.environ.get("HRNET_WB_RUN_MODE", "process")
        self.jobs: list[Job] = []
        self._quit_after_job = False
        self._panes: dict[str, Widget] = {}
        # Panes mount after the first frame (Deferred): what is for a pane that is not
        # mounted yet waits here and is applied, in order, when it mounts.
        self._mounted: set[str] = set()
        self._pending: dict[str, list[Callable[[Any], None]]] = {}
        # hrnet-wb (workbench.tui.launch) sets this: Ctrl+Q with nothing running ends the
        # process at once. Tests and embedders keep Textual's own shutdown.
        self.exit_process_on_quit = False
        # launch() turns the cyclic GC off for the first frame; the app turns it back on.
        self.gc_paused = False
        # Loaded on first use, after the first frame: pydantic's import and first schema
        # build cost ~0.25 s that the first frame need not wait for.
        self._profile_arg = profile_path
        self._profile: Profile | None = None
        self._profile_path = ""
        self._profile_lock = threading.Lock()
        self._preload = Background("hrnet-wb-profile")
        self._preload_started = False
    @functools.cached_property
    def store(self) -> Store:
        """The home's store, opened on first use (its import is not on the first frame's path)."""
        from workbench.store import Store

        return Store(self.home.db)

    @property
    def models_pane(self) -> ModelsPane:
        pane = self._panes["models"]
        assert isinstance(pane, ModelsPane)
        return pane

    @property
    def build_pane(self) -> BuildPane | None:
        """The Build pane once mounted, else None (the same for the two below)."""
        return self._panes.get("build") if "build" in self._mounted else None  # type: ignore[return-value]

    @property
    def dataset_pane(self) -> DatasetPane | None:
        return self._panes.get("dataset") if "dataset" in self._mounted else None  # type: ignore[return-value]

    @property
    def leaderboard_pane(self) -> LeaderboardPane | None:
        return (self._panes.get("leaderboard")  # type: ignore[return-value]
                if "leaderboard" in self._mounted else None)

    def to_pane(self, name: str, fn: Callable[[Any], None]) -> None:
        """Call ``fn(pane)`` now if the pane is mounted, else when it mounts. Every message
        handler reaches a pane through here, so none assumes the pane is there yet."""
        if name in self._mounted:
            fn(self._panes[name])
        else:
            self._pending.setdefault(name, []).append(fn)

    def pane_mounted(self, pane: Widget) -> None:
        """A pane and its children are mounted: apply what waited for it."""
        name = next(k for k, v in self._panes.items() if v is pane)
        self._mounted.add(name)
        for fn in self._pending.pop(name, []):
            fn(pane)

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
