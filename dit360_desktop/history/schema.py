"""The library index schema and its migrations.

The version lives in ``PRAGMA user_version``. A fresh index is built by running the first schema and then
every migration, so a new library and an upgraded one always end with exactly the same tables. Each
migration runs in one transaction (SQLite DDL is transactional): a crash mid-upgrade leaves the old version.
"""

from __future__ import annotations

import logging
import sqlite3

from dit360_desktop.history.errors import LibraryVersionError

log = logging.getLogger(__name__)

# Version 1: the first release. One row per image; favourites; no tags, no search index.
SCHEMA_V1 = """
CREATE TABLE entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file TEXT NOT NULL UNIQUE,
    prompt TEXT NOT NULL,
    negative_prompt TEXT NOT NULL DEFAULT '',
    params TEXT NOT NULL,
    seed INTEGER,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    models TEXT NOT NULL DEFAULT '{}',
    timings TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    favorite INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX entries_created ON entries(created_at);
"""

# Version 2: tags, thumbnails, the missing-file flag, the full metadata chunk, and FTS5 search over the
# prompts and tags. The FTS table is external-content (it stores only the index) and triggers keep it in step.
MIGRATION_V2 = """
ALTER TABLE entries ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE entries ADD COLUMN thumbnail TEXT;
ALTER TABLE entries ADD COLUMN missing INTEGER NOT NULL DEFAULT 0;
ALTER TABLE entries ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
CREATE INDEX entries_favorite ON entries(favorite, created_at);
CREATE VIRTUAL TABLE entries_fts USING fts5(
    prompt, negative_prompt, tags,
    content='entries', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
    INSERT INTO entries_fts(rowid, prompt, negative_prompt, tags)
    VALUES (new.id, new.prompt, new.negative_prompt, new.tags);
END;
CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
    INSERT INTO entries_fts(entries_fts, rowid, prompt, negative_prompt, tags)
    VALUES ('delete', old.id, old.prompt, old.negative_prompt, old.tags);
END;
CREATE TRIGGER entries_fts_update AFTER UPDATE OF prompt, negative_prompt, tags ON entries BEGIN
    INSERT INTO entries_fts(entries_fts, rowid, prompt, negative_prompt, tags)
    VALUES ('delete', old.id, old.prompt, old.negative_prompt, old.tags);
    INSERT INTO entries_fts(rowid, prompt, negative_prompt, tags)
    VALUES (new.id, new.prompt, new.negative_prompt, new.tags);
END;
INSERT INTO entries_fts(entries_fts) VALUES ('rebuild');
"""

# Version 3: edit lineage. An edit's entry points at the entry it was made from (``parent_id``; the parent's
# file too, which the PNG records, so a rebuilt index links them again) and at its mask file beside it.
MIGRATION_V3 = """
ALTER TABLE entries ADD COLUMN parent_id INTEGER;
ALTER TABLE entries ADD COLUMN parent_file TEXT;
ALTER TABLE entries ADD COLUMN mask TEXT;
CREATE INDEX entries_parent ON entries(parent_id);
"""

# Version 4: batch job claims (``history/job_claims.py``). One row per job id (the primary key makes it
# unique across every process that opens the library): which batch run holds the job, and the entry it
# became. Entries saved by earlier versions keep their job id in the metadata and count as done.
MIGRATION_V4 = """
CREATE TABLE job_claims (
    job_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    claimed_at REAL NOT NULL,
    entry_id INTEGER
);
"""

# MIGRATIONS[n] upgrades version n-1 to version n.
MIGRATIONS: dict[int, str] = {1: SCHEMA_V1, 2: MIGRATION_V2, 3: MIGRATION_V3, 4: MIGRATION_V4}
CURRENT_VERSION = max(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the index to ``CURRENT_VERSION``; return the version it had before.

    ``conn`` must be in autocommit mode (``isolation_level=None``): each step opens its own transaction.
    """
    start = schema_version(conn)
    if start > CURRENT_VERSION:
        raise LibraryVersionError(
            f"The library index is schema version {start}, made by a newer version of DiT360 Desktop "
            f"(this one reads up to {CURRENT_VERSION}). Update the app, or choose another library folder."
        )
    for version in range(start + 1, CURRENT_VERSION + 1):
        log.info("Migrating the library index to schema version %d", version)
        try:
            # BEGIN IMMEDIATE takes the write lock first, so two instances cannot both run a migration;
            # the loser waits (busy timeout) and then sees the new version and skips the step.
            conn.execute("BEGIN IMMEDIATE")
            if schema_version(conn) >= version:
                conn.execute("COMMIT")
                continue
            for statement in _split_statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return start


def _split_statements(script: str) -> list[str]:
    """Split a script into complete statements (trigger bodies contain ``;`` too)."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"Incomplete SQL statement in a migration: {current.strip()[:60]}")
    return statements
