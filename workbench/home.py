"""Where the workbench keeps its state: run store, artifacts, run outputs, caches.

Resolution order: an explicit ``--home``, then ``$HRNET_WB_HOME``, then the platform's
user data directory (platformdirs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Home:
    root: Path

    @property
    def db(self) -> Path:
        return self.root / "store.sqlite"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def ensure(self) -> Home:
        """Create the home's folders; a home that is a file or cannot be written is BadInput."""
        from workbench.errors import BadInput

        self.check()
        for p in (self.root, self.artifacts, self.runs, self.cache):
            if p.is_dir():
                continue
            if p.exists():
                raise BadInput(f"{p}: expected a folder of the hrnet-wb home, found a file")
            try:
                p.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise BadInput(f"{p}: cannot create the hrnet-wb home folder "
                               f"({exc.strerror or exc})") from None
        return self

    def check(self) -> Home:
        """Refuse a home that exists but is not a folder (without creating anything)."""
        from workbench.errors import BadInput

        if self.root.exists() and not self.root.is_dir():
            raise BadInput(f"{self.root}: the hrnet-wb home must be a folder, this is a file")
        for parent in self.root.parents:  # a home under a file can never be created
            if parent.exists():
                if not parent.is_dir():
                    raise BadInput(f"{self.root}: cannot be a home, {parent} is a file (not a directory)")
                break
        return self


def home_root(explicit: str | Path | None = None) -> Path:
    """--home, then $HRNET_WB_HOME, then the platform's user data folder."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get("HRNET_WB_HOME")
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_data_dir("hrnet-wb", appauthor=False))


def resolve_home(explicit: str | Path | None = None, create: bool = True) -> Home:
    """The home, created unless ``create=False`` (readers: a read-only home stays untouched)."""
    home = Home(home_root(explicit))
    return home.ensure() if create else home.check()
