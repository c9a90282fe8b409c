"""The store's schema: the tables, their version (SQLite's ``user_version``) and the
migrations that bring an older store up to it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from workbench.errors import BadInput

SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL,
    profile_path  TEXT NOT NULL DEFAULT '',
    profile_json  TEXT NOT NULL DEFAULT '{}',
    profile_hash  TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT 'running',
    started_at    REAL NOT NULL,
    finished_at   REAL,
    seconds       REAL,
    out_dir       TEXT NOT NULL DEFAULT '',
    error         TEXT NOT NULL DEFAULT '',
    summary_json  TEXT NOT NULL DEFAULT '{}',
    pid           INTEGER,
    pid_start     TEXT NOT NULL DEFAULT '',
    host          TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS artifacts (
    key          TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    source       TEXT NOT NULL DEFAULT '',
    variant      TEXT NOT NULL DEFAULT '',
    weights      TEXT NOT NULL DEFAULT '',
    backend      TEXT NOT NULL DEFAULT '',
    dtype        TEXT NOT NULL DEFAULT '',
    calibration  TEXT NOT NULL DEFAULT '',
    input_size   TEXT NOT NULL DEFAULT '',
    path         TEXT NOT NULL,
    meta_json    TEXT NOT NULL DEFAULT '{}',
    created_at   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS metrics (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    build         TEXT NOT NULL,
    artifact_key  TEXT NOT NULL DEFAULT '',
    name          TEXT NOT NULL,
    value         REAL NOT NULL,
    unit          TEXT NOT NULL DEFAULT '',
    params_json   TEXT NOT NULL DEFAULT '',
    created_at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_run ON metrics(run_id, build);
CREATE TABLE IF NOT EXISTS evals (
    run_id               INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    build                TEXT NOT NULL,
    artifact_key         TEXT NOT NULL DEFAULT '',
    images               INTEGER NOT NULL,
    data_root            TEXT NOT NULL DEFAULT '',
    data_layout          TEXT NOT NULL DEFAULT '',
    data_hash            TEXT NOT NULL DEFAULT '',
    eval_limit           INTEGER NOT NULL DEFAULT 0,
    calibration_excluded INTEGER NOT NULL DEFAULT 0,
    includes_calibration INTEGER NOT NULL DEFAULT 0,
    created_at           REAL NOT NULL,
    PRIMARY KEY (run_id, build)
);
CREATE TABLE IF NOT EXISTS run_machine (
    run_id       INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    fingerprint  TEXT NOT NULL,
    cpu_json     TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS runtime_settings (
    run_id         INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    build          TEXT NOT NULL,
    artifact_key   TEXT NOT NULL DEFAULT '',
    stage          TEXT NOT NULL DEFAULT '',
    precision      TEXT NOT NULL DEFAULT '',
    settings_json  TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (run_id, build, stage)
);
"""

def _tables_added_in_v3() -> list[str]:
    """Schema v3's new tables (eval identity, the run's machine, effective runtime settings),
    taken from :data:`_SCHEMA` so the migration and a new store cannot drift apart."""
    names = ("evals", "run_machine", "runtime_settings")
    return [stmt.strip() for stmt in _SCHEMA.split(";")
            if any(f"EXISTS {n} (" in stmt for n in names)]


_OUR_TABLES = {"runs", "artifacts", "metrics"}

# user_version N -> N+1. Each step runs in one transaction; add a step, bump SCHEMA_VERSION.
MIGRATIONS: dict[int, list[str]] = {
    1: ["ALTER TABLE runs ADD COLUMN pid INTEGER",
        "ALTER TABLE runs ADD COLUMN pid_start TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE runs ADD COLUMN host TEXT NOT NULL DEFAULT ''"],
    2: _tables_added_in_v3(),
}


class StoreError(BadInput):
    """The store file cannot be used: not SQLite, corrupt, foreign, newer, unwritable."""


def ensure_schema(con: sqlite3.Connection, path: Path, writable: bool) -> None:
    """Refuse a newer or foreign schema; a writer creates ours or migrates it to
    :data:`SCHEMA_VERSION` (the caller holds the write transaction)."""
    version = int(con.execute("PRAGMA user_version").fetchone()[0])
    tables = {r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")}
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path}: store schema v{version} is newer than this hrnet-wb "
                         f"understands (v{SCHEMA_VERSION}); upgrade hrnet-wb or use another --home")
    if tables and not _OUR_TABLES <= tables:
        raise StoreError(f"{path}: a SQLite file that is not an hrnet-wb store "
                         f"(tables: {', '.join(sorted(tables)[:5])}); use another --home")
    if version == 0 and tables:
        raise StoreError(f"{path}: hrnet-wb tables without a schema version; "
                         "not a store this workbench wrote")
    if not writable:
        return  # an older schema is read as it is (readers check for new columns)
    if not tables:
        for stmt in _SCHEMA.split(";"):
            if stmt.strip():
                con.execute(stmt)
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return
    while version < SCHEMA_VERSION:
        steps = MIGRATIONS.get(version)
        if steps is None:
            raise StoreError(f"{path}: no migration from store schema v{version}")
        for sql in steps:
            con.execute(sql)
        con.execute(f"PRAGMA user_version = {version + 1}")
        version += 1
