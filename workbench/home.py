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
        for p in (self.root, self.artifacts, self.runs, self.cache):
            p.mkdir(parents=True, exist_ok=True)
        return self


def resolve_home(explicit: str | Path | None = None) -> Home:
    if explicit:
        return Home(Path(explicit).expanduser().resolve()).ensure()
    env = os.environ.get("HRNET_WB_HOME")
    if env:
        return Home(Path(env).expanduser().resolve()).ensure()
    import platformdirs

    return Home(Path(platformdirs.user_data_dir("hrnet-wb", appauthor=False))).ensure()
