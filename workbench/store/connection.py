"""Opening the store file: the connection, the schema check on first open, and paths kept
relative to the home (a copied home uses its own files)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workbench.store.schema import StoreError, ensure_schema


class StoreBase:
    """The connection and the schema check every part of :class:`workbench.store.Store`
    shares (``readonly=True`` never writes: no schema, no WAL pragma)."""

    def __init__(self, path: str | Path, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self.root = self.path.resolve().parent
        self._immutable = False
        self._ours = False  # WAL is set only on a file the schema check accepted
        if self.path.exists() and not self.path.is_file():
            raise StoreError(f"{self.path}: the run store is not a regular file")
        if readonly:
            if self.path.exists():
                with self._connect() as con:
                    self._check_version(con, writable=False)
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.path.parent}: cannot create the home folder "
                             f"({exc.strerror or exc})") from None
        with self._connect() as con:
            self._check_version(con, writable=True)
        self._ours = True  # only now is it safe to switch the file to WAL
        with self._connect():
            pass

    @property
    def exists(self) -> bool:
        """A store file with content (a first open that hit a full disk leaves 0 bytes)."""
        try:
            return self.path.is_file() and self.path.stat().st_size > 0
        except OSError:
            return False

    def _check_version(self, con: sqlite3.Connection, writable: bool) -> None:
        """Refuse newer/foreign schemas; create or migrate ours (writers only).

        A writer holds an immediate (write) transaction from the first look to the last
        change, so concurrent first opens never see a half-created schema."""
        if writable:
            con.execute("BEGIN IMMEDIATE")
        try:
            ensure_schema(con, self.path, writable)
            if writable:
                con.commit()
        except BaseException:
            if writable:
                con.rollback()
            raise

    def _open(self) -> sqlite3.Connection:
        if not self.readonly:
            return sqlite3.connect(self.path, timeout=30)
        uri = self.path.resolve().as_uri() + ("?mode=ro&immutable=1" if self._immutable else "?mode=ro")
        return sqlite3.connect(uri, uri=True, timeout=30)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            con = self._open()
            try:
                con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            except sqlite3.OperationalError:
                if not self.readonly or self._immutable:
                    raise
                # a WAL store in a folder we cannot write: SQLite cannot create its -shm
                # file, so read the file as it is (nobody can write it there either)
                con.close()
                self._immutable = True
                con = self._open()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot open the run store ({self._explain(exc)})") from None
        con.row_factory = sqlite3.Row
        try:
            if not self.readonly and self._ours:
                _switch_to_wal(con)
            con.execute("PRAGMA foreign_keys=ON")
            with con:
                yield con
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: the run store is unusable ({self._explain(exc)})") from None
        finally:
            con.close()

    def _explain(self, exc: sqlite3.DatabaseError) -> str:
        """SQLite's words ('unable to open database file', 'disk I/O error') say what failed,
        not why: look at the folder and the disk and say that."""
        import os
        import shutil

        text = str(exc)
        try:
            free = shutil.disk_usage(self.root).free
        except OSError:
            free = None
        if free is not None and free < 1 << 20 and ("disk" in text or "full" in text or "I/O" in text):
            return f"no space left on the device holding {self.root} ({text})"
        if not self.readonly and ("unable to open" in text or "readonly" in text) and not (
                os.access(self.root, os.W_OK) and (not self.path.exists() or os.access(self.path, os.W_OK))):
            return (f"the home {self.root} is read-only: use another --home for new work; "
                    f"`runs` and `leaderboard` can still read it ({text})")
        return text

    # -- paths ------------------------------------------------------------------
    def relative_path(self, path: str | Path) -> str:
        """A path inside the home as a relative one (``artifacts/x/model.onnx``), else as is."""
        p = Path(path)
        try:
            return p.resolve().relative_to(self.root.resolve()).as_posix()
        except (ValueError, OSError):
            return str(p)

    def absolute_path(self, stored: str) -> str:
        """Where a stored path points in *this* home: relative paths resolve against it; an
        absolute path into another home's ``artifacts/`` folder is redirected here when this
        home holds the same file (a copied home uses its own models)."""
        if not stored:
            return stored
        p = Path(stored)
        if not p.is_absolute():
            return str(self.root / p)
        parts = p.parts
        if "artifacts" in parts and not p.exists():
            i = len(parts) - 1 - parts[::-1].index("artifacts")
            mine = self.root.joinpath(*parts[i:])
            if mine.exists():
                return str(mine)
        return stored


def _switch_to_wal(con: sqlite3.Connection, patience_s: float = 30.0) -> None:
    """WAL mode (persistent, so a no-op once set). The first switch of a new file needs it
    to itself: SQLite answers "database is locked" at once, without its busy timeout, while
    another process opening the same new home holds it, so wait for that here."""
    import time

    deadline = time.monotonic() + patience_s
    while True:
        try:
            con.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)

