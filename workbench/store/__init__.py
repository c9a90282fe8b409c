"""The run store: one SQLite file (WAL) holding runs, artifacts and metrics.

Every figure the workbench shows — the leaderboard, the TUI's plots — is read back
from here, so nothing measured is lost when a terminal closes.

The schema is versioned with SQLite's ``user_version`` (see :data:`MIGRATIONS`); a store
written by a newer workbench, or a SQLite file that is not ours, is refused with one line.
Readers (``runs``, ``leaderboard``) open the file read-only, without the WAL pragma, so a
read-only home can still be listed. Artifact paths inside the home are stored relative to
it, so a copied home uses its own files.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from workbench.errors import BadInput
from workbench.liveness import process_alive
from workbench.store.board import (
    COUNT_FIELDS,
    EVAL_FIELDS,
    FRACTION_METRICS,
    LOWER_IS_BETTER,
    RUNTIME_COLUMNS,
    SPEED_COLUMNS,
    Leaderboard,
    choose_eval,
    describe_eval,
    mark_mixed_machines,
)
from workbench.store.connection import StoreBase
from workbench.store.pending import PendingWrites, RunWrites
from workbench.store.runs import Run, RunLog, RunRow, live_status
from workbench.store.schema import MIGRATIONS, SCHEMA_VERSION, StoreError

__all__ = [
    "COUNT_FIELDS", "EVAL_FIELDS", "FRACTION_METRICS", "LOWER_IS_BETTER", "MIGRATIONS",
    "PendingWrites", "RUNTIME_COLUMNS", "RunWrites", "SCHEMA_VERSION", "SPEED_COLUMNS", "Run", "RunRow", "Store", "StoreBase",
    "StoreError", "choose_eval", "one_by_name", "describe_eval", "live_status", "mark_mixed_machines",
    "process_alive",
]


class Store(RunLog, Leaderboard):
    """Thin, typed access to the SQLite file. Safe to open from several threads/processes.

    ``readonly=True`` never writes (no schema, no WAL pragma): for listing a home that may
    be read-only. A missing store then reads as empty. The methods live by concern:
    :class:`~workbench.store.connection.StoreBase` (opening, schema, paths),
    :class:`~workbench.store.runs.RunLog` (the run lifecycle and per-run records),
    :class:`~workbench.store.board.Leaderboard` (reading figures back); artifacts here.
    """

    # -- artifacts --------------------------------------------------------------
    def add_artifact(self, key: str, name: str, kind: str, path: str, *, source: str = "",
                     variant: str = "", weights: str = "", backend: str = "", dtype: str = "",
                     calibration: str = "", input_size: str = "",
                     meta: dict[str, Any] | None = None) -> None:
        with self._connect() as con:
            con.execute(
                "INSERT OR REPLACE INTO artifacts(key, name, kind, source, variant, weights, backend, dtype,"
                " calibration, input_size, path, meta_json, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, name, kind, source, variant, weights, backend, dtype, calibration, input_size,
                 self.relative_path(path), json.dumps(meta or {}, default=str), time.time()),
            )

    def artifact(self, key_or_name: str, newest: bool = False) -> dict[str, Any] | None:
        """The artifact with this key, or else the one artifact with this name, or else the
        one whose key starts with it (a prefix of 4 or more characters). ``newest`` (for
        showing a name's recipe, which every build of the name shares) takes the newest
        instead of refusing a shared name.

        A name is only a label: two builds of one model from different sources or weights
        share it. The rule (:func:`one_by_name`): an accuracy-budget
        variant (nodes left in float) yields to the plain build; when the name still names
        more than one key, refuse and list them rather than silently take the newest."""
        if self.readonly and not self.exists:
            return None
        with self._connect() as con:
            rows = con.execute("SELECT * FROM artifacts WHERE key=?", (key_or_name,)).fetchall()
            if not rows:
                rows = con.execute("SELECT * FROM artifacts WHERE name=? ORDER BY created_at DESC",
                                   (key_or_name,)).fetchall()
            if not rows and len(key_or_name) >= 4:
                rows = con.execute("SELECT * FROM artifacts WHERE substr(key, 1, ?)=? ORDER BY created_at DESC",
                                   (len(key_or_name), key_or_name)).fetchall()
        if not rows:
            return None
        found = [self._artifact_row(r) for r in rows]
        if newest:
            return found[0]
        return one_by_name(key_or_name, found, lambda d: {
            **d["meta"], "key": d["key"], "source": d["source"] or d["meta"].get("source", ""),
            "weights": d["weights"] or d["meta"].get("weights", "")})

    def artifacts(self) -> list[dict[str, Any]]:
        if self.readonly and not self.exists:
            return []
        with self._connect() as con:
            rows = con.execute("SELECT * FROM artifacts ORDER BY created_at DESC").fetchall()
        return [self._artifact_row(r) for r in rows]

    def _artifact_row(self, row: Any) -> dict[str, Any]:
        """An artifacts row as a dict: its meta parsed, its path absolute."""
        d = dict(row)
        d["meta"] = json.loads(d.pop("meta_json") or "{}")
        d["path"] = self.absolute_path(d["path"])
        return d


T = TypeVar("T")


def one_by_name(ref: str, found: list[T], meta_of: Callable[[T], dict[str, Any]]) -> T:
    """The one artifact ``ref`` names among ``found`` (newest first), by the documented rule:
    accuracy-budget variants (nodes left in float) yield to the plain build of the same name;
    if more than one build is still left, the name is ambiguous (two sources or weights
    give the same name): refuse, listing each key, source and weights."""
    plain = [f for f in found if not meta_of(f).get("nodes_excluded")] or found
    keys = {str(meta_of(f).get("key", "")) for f in plain}
    if len(keys) <= 1:
        return plain[0]
    listed = "; ".join(
        f"{str(m.get('key', ''))[:12]} (source {m.get('source') or '?'}, weights "
        f"{m.get('weights') or m.get('weights_id') or '?'})" for m in map(meta_of, plain))
    raise BadInput(f"{ref}: the name matches {len(plain)} artifacts: {listed}; "
                   "pass a key prefix (or the artifact's folder) instead")
