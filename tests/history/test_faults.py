"""Faults the library must survive: a damaged index, a read-only folder, a newer schema, two writers."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from history_factory import make_result

from dit360_desktop.history.errors import LibraryReadOnlyError, LibraryVersionError
from dit360_desktop.history.library import DB_NAME, Library

HERE = Path(__file__).parent


def _remove_companions(folder: Path) -> None:
    for suffix in ("-wal", "-shm"):
        (folder / (DB_NAME + suffix)).unlink(missing_ok=True)


def test_garbage_index_is_set_aside_and_rebuilt_with_a_notice(tmp_path: Path) -> None:
    folder = tmp_path / "library"
    with Library.open(folder) as lib:
        saved = {lib.save(make_result(f"Island {i}", seed=i)).path for i in range(3)}
    _remove_companions(folder)
    (folder / DB_NAME).write_bytes(b"this is not an SQLite database at all " * 200)

    with Library.open(folder) as lib:
        assert {e.path for e in lib.search()} == saved
        assert lib.integrity_check() == "ok"
        assert len(lib.notices) == 1 and "damaged" in lib.notices[0] and "rebuilt" in lib.notices[0]
        aside = list(folder.glob(f"{DB_NAME}.corrupt-*"))
        assert len(aside) == 1 and aside[0].name in lib.notices[0]
        assert aside[0].read_bytes().startswith(b"this is not an SQLite")


def test_damaged_pages_are_detected_and_favourites_recovered(tmp_path: Path) -> None:
    folder = tmp_path / "library"
    with Library.open(folder) as lib:
        first = lib.save(make_result("Lighthouse on a cliff", seed=1))
        lib.save(make_result("Snowy mountain pass", seed=2))
        lib.set_favorite(first.id, True)
        lib.set_tags(first.id, ["coast"])
    # Pad the table with rows (no files) so it spans many pages, then wreck its last pages.
    conn = sqlite3.connect(folder / DB_NAME)
    conn.executemany(
        "INSERT INTO entries (file, prompt, params, width, height, created_at) VALUES (?, ?, '{}', 1, 1, 0)",
        [(f"images/pad/{i}.png", "padding " * 60) for i in range(400)],
    )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    _remove_companions(folder)
    db = folder / DB_NAME
    size = db.stat().st_size
    with db.open("r+b") as handle:
        handle.seek(size - 6 * page_size)
        handle.write(b"\xa5" * (4 * page_size))

    with Library.open(folder) as lib:
        entries = lib.search(order="oldest")
        assert [e.prompt for e in entries] == ["Lighthouse on a cliff", "Snowy mountain pass"]
        assert entries[0].favorite is True and entries[0].tags == ("coast",)
        assert entries[1].favorite is False
        assert lib.integrity_check() == "ok"
        assert "damaged" in lib.notices[0] and "recovered" in lib.notices[0]


def test_newer_schema_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "library"
    Library.open(folder).close()
    conn = sqlite3.connect(folder / DB_NAME)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(LibraryVersionError, match="newer version"):
        Library.open(folder)


def _run(*command: str) -> bool:
    return subprocess.run(command, capture_output=True, timeout=30).returncode == 0


@pytest.fixture
def read_only_base() -> Iterator[tuple[Path, Path]]:
    """A folder holding an existing library and an empty folder, both made read-only.

    As a normal user, permissions do it (EACCES). Root ignores permissions, so there the folder is a tmpfs
    remounted read-only (EROFS), the way a write-protected card or a read-only share behaves.
    """
    base = Path(tempfile.mkdtemp(prefix="dit360-ro-"))
    mounted = False
    try:
        if os.geteuid() == 0:
            if not _run("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(base)):
                pytest.skip("running as root and cannot mount a tmpfs to make a read-only folder")
            mounted = True
        existing, empty = base / "existing", base / "parent"
        Library.open(existing).close()
        empty.mkdir()
        if mounted:
            assert _run("mount", "-o", "remount,ro", str(base))
        else:
            for path in [*existing.rglob("*"), existing, empty]:
                path.chmod(0o555 if path.is_dir() else 0o444)
        yield existing, empty
    finally:
        if mounted:
            _run("umount", str(base))
        else:
            for path in base.rglob("*"):
                path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(base)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions and mounts")
def test_read_only_location_gives_a_clear_error(read_only_base: tuple[Path, Path]) -> None:
    existing, empty = read_only_base
    for folder in (existing, empty / "library"):
        with pytest.raises(LibraryReadOnlyError) as caught:
            Library.open(folder)
        message = str(caught.value)
        assert str(folder) in message and "read-only" in message and "writable folder" in message


def test_switching_to_wal_waits_while_another_process_holds_the_new_file() -> None:
    """Two processes opening the same fresh library: SQLite answers the second one's switch to WAL
    with "database is locked" at once, without its busy handler (seen in CI). It must wait instead."""
    import sqlite3

    from dit360_desktop.history import library as library_module

    class Row:
        def fetchone(self):
            return ("wal",)

    class Busy:
        def __init__(self, failures: int, message: str = "database is locked") -> None:
            self.failures, self.calls, self.message = failures, 0, message

        def execute(self, sql: str) -> Row:
            self.calls += 1
            if self.calls <= self.failures:
                raise sqlite3.OperationalError(self.message)
            return Row()

    busy = Busy(failures=3)
    assert library_module._enable_wal(busy) == "wal" and busy.calls == 4
    other = Busy(failures=1, message="disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        library_module._enable_wal(other)
    assert other.calls == 1


def test_two_processes_writing_at_once_do_not_corrupt_the_library(tmp_path: Path) -> None:
    folder = tmp_path / "library"
    count = 12
    writers = [
        subprocess.Popen(
            [sys.executable, str(HERE / "concurrent_writer.py"), str(folder), name, str(count)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("left", "right")
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err

    with Library.open(folder) as lib:
        assert lib.integrity_check() == "ok"
        assert lib.count() == 2 * count
        assert lib.count("left") == count and lib.count("right") == count
        assert all(e.path.is_file() and not e.missing for e in lib.search())
        assert lib.open_report.adopted == 0
