"""The profile the app owns: loading it (lazily, after the first frame), editing,
loading another and saving it. Panes ask for these by message
(:mod:`workbench.tui.messages`) and are shown the result."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work

from workbench.errors import BadInput
from workbench.tui import profiles
from workbench.tui.app_base import AppBase
from workbench.tui.messages import (
    BackgroundFailed,
    LoadProfile,
    ProfileEdited,
    SaveProfileRequested,
)

if TYPE_CHECKING:  # pragma: no cover
    from workbench.profile import Profile

__all__ = ["ProfileOwner"]


class ProfileOwner(AppBase):
    """The app owns the profile; panes ask by message."""

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

    def _preload_profile(self, _cancelled: Callable[[], bool]) -> None:
        try:
            self.profile  # noqa: B018
        except Exception as exc:  # noqa: BLE001 - shown in the error modal
            self.post_message(BackgroundFailed(exc))
            return
        self.call_later(self._show_profile)  # call_later is thread-safe via the message queue

    def _show_profile(self) -> None:
        self.models_pane.show_profile(self.profile, self.profile_path)
        self.to_pane("build", lambda pane: pane.show_profile(self.profile))

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
