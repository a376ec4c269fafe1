from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dit360_desktop.history import schema
from dit360_desktop.history.library import DB_NAME, Library

V1_FIXTURE = Path(__file__).parent / "fixtures" / "library_v1.sql"


def _schema_of(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
    return {(name, " ".join(sql.split())) for name, sql in rows}


def _v1_db(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(V1_FIXTURE.read_text(encoding="utf-8"))
    conn.close()


def test_migrated_v1_schema_equals_a_fresh_one(tmp_path: Path) -> None:
    fresh = sqlite3.connect(tmp_path / "fresh.db", isolation_level=None)
    assert schema.migrate(fresh) == 0
    _v1_db(tmp_path / "old.db")
    old = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    assert schema.migrate(old) == 1

    assert schema.schema_version(old) == schema.schema_version(fresh) == schema.CURRENT_VERSION
    assert _schema_of(old) == _schema_of(fresh)
    # Running it again is a no-op.
    assert schema.migrate(old) == schema.CURRENT_VERSION


def test_v1_library_opens_with_data_and_search_intact(tmp_path: Path) -> None:
    folder = tmp_path / "library"
    folder.mkdir()
    _v1_db(folder / DB_NAME)

    with Library.open(folder) as lib:
        entries = lib.search(order="oldest")
        assert [e.seed for e in entries] == [11, 12, 13]
        lake = entries[0]
        assert lake.favorite is True and lake.tags == ()
        assert lake.params["steps"] == 28 and lake.models == {"base": {"name": "FLUX.1-dev"}}
        assert lake.timings == {"denoising": 41.5}
        assert lake.thumbnail_path is None
        # The fixture's files are not in the folder: the rows are kept and flagged, not dropped.
        assert all(e.missing for e in entries)
        # The FTS index was filled from the existing rows (accents folded: "cafe" finds "Café").
        assert [e.seed for e in lib.search("cafe")] == [13]
        assert [e.seed for e in lib.search("canyon golden")] == [12]
        assert lib.search("people") == []
        lib.set_tags(lake.id, ["mountains"])
        assert [e.seed for e in lib.search("mountain")] == [11]


def test_a_failed_migration_leaves_the_old_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _v1_db(tmp_path / "old.db")
    broken = schema.MIGRATION_V2 + "\nSELECT * FROM no_such_table;\n"
    monkeypatch.setitem(schema.MIGRATIONS, 2, broken)
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        schema.migrate(conn)
    assert schema.schema_version(conn) == 1
    columns = {row[1] for row in conn.execute("PRAGMA table_info(entries)")}
    assert "tags" not in columns
    assert conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 3
