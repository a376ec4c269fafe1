"""The panorama library: PNG files in a folder, indexed by SQLite.

Durability rules (see docs/history.md):
- a save writes the PNG atomically (``panorama.fileio.write_atomic``: temp, fsync, rename, folder fsync)
  and only then inserts the row, so a row never points at a half-written file; a crash in between leaves
  an orphan that the next open adopts;
- the index runs in WAL mode with ``synchronous=FULL`` and a busy timeout, and every write takes the
  write lock up front (``BEGIN IMMEDIATE``), so two processes writing at once wait for each other;
- a damaged index is set aside under a timestamped name and rebuilt from the PNGs, keeping whatever
  favourites and tags can still be read from it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dit360_desktop import paths
from dit360_desktop.history import files, lineage, scan, search
from dit360_desktop.history.entry import ENTRY_COLUMNS, Entry, RescanReport, entry_from_row
from dit360_desktop.history.errors import (
    EntryNotFoundError,
    LibraryDiskFullError,
    LibraryError,
    LibraryReadOnlyError,
)
from dit360_desktop.history.schema import migrate
from dit360_desktop.history.thumbnails import ensure_thumbnail, make_missing_thumbnails, write_thumbnail
from dit360_desktop.history.trash import move_to_trash
from dit360_desktop.panorama import fileio, imageio
from dit360_desktop.panorama.guide_copies import guides_folder
from dit360_desktop.panorama.result import CREATED_AT_KEY, LINEAGE_KEY, Result

log = logging.getLogger(__name__)

DB_NAME = "library.sqlite3"
BUSY_TIMEOUT_S = 15.0


class _CorruptIndex(Exception):
    pass


class Library:
    """Use ``Library.open(folder)``. Safe to share between threads (one connection behind a lock)."""

    def __init__(self, root: Path, conn: sqlite3.Connection, trash: Callable[[Path], None]) -> None:
        self.root = root
        self._conn = conn
        self._lock = threading.RLock()
        self._trash = trash
        # Plain sentences for the user about what happened at open (rebuilt index, adopted files, ...).
        self.notices: list[str] = []
        self.open_report = RescanReport()

    # Opening

    @classmethod
    def open(
        cls,
        folder: Path | str | None = None,
        *,
        trash: Callable[[Path], None] = move_to_trash,
        read_only: bool = False,
    ) -> Library:
        """Open (creating) a library. ``read_only`` opens an existing one on a read-only drive or share:
        reading, searching and exporting work, nothing in the folder is changed (no adoption of new files).
        """
        root = Path(folder).expanduser() if folder is not None else paths.default_library_dir()
        root = root.absolute()
        if read_only:
            return cls._open_read_only(root, trash)
        _prepare_folder(root)
        db_path = root / DB_NAME
        rebuilt_from: Path | None = None
        salvage: dict[str, scan.Annotations] = {}
        try:
            conn = _connect(db_path)
        except _CorruptIndex as e:
            log.error("The library index %s is damaged (%s); rebuilding it from the images", db_path, e)
            rebuilt_from = _set_aside(db_path)
            salvage = scan.salvage_annotations(rebuilt_from)
            try:
                conn = _connect(db_path)
            except _CorruptIndex as again:
                raise LibraryError(
                    f"A new library index could not be created at {db_path}: {again}"
                ) from again

        library = cls(root, conn, trash)
        try:
            report = scan.reconcile(library._database, root, full=rebuilt_from is not None, salvage=salvage)
        except sqlite3.Error as e:
            conn.close()
            raise _translate(e, f"The library index {db_path} could not be updated") from e
        library.open_report = report
        if rebuilt_from is not None:
            kept = len(salvage)
            library.notices.append(
                f"The library index was damaged. It was moved to {rebuilt_from.name} and rebuilt from the "
                f"{report.adopted} panorama(s) in the folder"
                + (f"; favourites and tags of {kept} were recovered." if kept else ".")
            )
        else:
            if report.adopted:
                library.notices.append(
                    f"{report.adopted} panorama(s) found in the library folder were added to the gallery."
                )
            if report.flagged_missing:
                library.notices.append(
                    f"{report.flagged_missing} gallery entr{'y' if report.flagged_missing == 1 else 'ies'} "
                    "point at an image file that is no longer there; they are marked as missing."
                )
        for notice in library.notices:
            log.warning("%s", notice)
        return library

    @classmethod
    def _open_read_only(cls, root: Path, trash: Callable[[Path], None]) -> Library:
        db_path = root / DB_NAME
        if not db_path.is_file():
            raise LibraryError(f"There is no library index at {db_path}, and the folder cannot be written.")
        # mode=ro still wants to create the WAL's -shm file; immutable=1 is for a folder that forbids even
        # that (a read-only mount), where no other process can be writing either.
        errors: list[sqlite3.Error] = []
        for query in ("mode=ro", "immutable=1"):
            uri = f"{db_path.as_uri()}?{query}"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            try:
                conn.execute("PRAGMA query_only = 1")
                conn.execute("SELECT COUNT(*) FROM entries").fetchone()
                break
            except sqlite3.Error as e:
                errors.append(e)
                conn.close()
        else:
            raise _translate(errors[-1], f"The library index {db_path} cannot be read") from errors[-1]
        library = cls(root, conn, trash)
        library.notices.append(f"The library folder {root} is read-only; it is shown as it is.")
        return library

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    # Saving

    def save(self, result: Result) -> Entry:
        """Write the panorama as PNG (with metadata and GPano), its thumbnail, then the index row."""
        image = result.image if result.image.mode == "RGB" else result.image.convert("RGB")
        created = time.time()
        relpath = self._unused_relpath(created, result.request.seed)
        path = self.root / relpath
        extra: dict[str, Any] = {CREATED_AT_KEY: datetime.fromtimestamp(created, tz=timezone.utc).isoformat()}
        result, mask = self._record_lineage(result, relpath, extra)
        metadata = result.file_metadata(extra)
        data = imageio.encode_png(image, metadata)

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if mask is not None:
                fileio.write_atomic(mask[0], mask[1])
            fileio.write_atomic(path, data)
        except OSError as e:
            if mask is not None:
                mask[0].unlink(missing_ok=True)
            raise _translate_os(e, f"The panorama could not be saved to {path}") from e

        values = scan.row_values(relpath, metadata, image.width, image.height, created)
        thumbnail = self.root / values["thumbnail"]
        try:
            write_thumbnail(image, thumbnail)
        except OSError as e:
            # The image is safe; the gallery regenerates a missing thumbnail when it needs it.
            log.warning("Could not write the thumbnail %s: %s", thumbnail, e)

        try:
            with self._write() as conn:
                entry_id = scan.upsert(conn, values)
        except sqlite3.Error as e:
            # No row, so no file either: the save did not happen, and the folder says so.
            path.unlink(missing_ok=True)
            thumbnail.unlink(missing_ok=True)
            if mask is not None:
                mask[0].unlink(missing_ok=True)
            raise _translate(e, "The panorama could not be recorded in the library index") from e
        return self.get(entry_id)

    def _record_lineage(
        self, result: Result, relpath: str, extra: dict[str, Any]
    ) -> tuple[Result, tuple[Path, bytes] | None]:
        """For an edit: note its parent and mask in ``extra``; return the result as it is recorded (its
        request naming the kept mask) and the mask file to write."""
        found = lineage.lineage_of(result.request, self.root, result.metadata)
        if found is None:
            return result, None
        record: dict[str, str] = {}
        if found.parent_file is not None:
            record["parent"] = found.parent_file
        mask = None
        if found.mask_png is not None:
            record["mask"] = lineage.mask_relpath(relpath)
            mask = (self.root / record["mask"], found.mask_png)
            # The request's mask was a temporary file: the recorded request names the kept copy.
            result = dataclasses.replace(result, request=result.request.replace(mask_image=str(mask[0])))
        extra[LINEAGE_KEY] = record
        return result, mask

    def children(self, entry_id: int) -> list[Entry]:
        """The edits made from an entry, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {ENTRY_COLUMNS} FROM entries WHERE parent_id = ? ORDER BY created_at, id",
                (entry_id,),
            ).fetchall()
        return [entry_from_row(self.root, row) for row in rows]

    def _unused_relpath(self, created: float, seed: int | None) -> str:
        for _ in range(16):
            relpath = files.image_relpath(created, seed)
            if not (self.root / relpath).exists():
                return relpath
        raise LibraryError(f"Could not find a free file name in {self.root}.")

    # Reading

    def get(self, entry_id: int) -> Entry:
        with self._lock:
            row = self._conn.execute(
                f"SELECT {ENTRY_COLUMNS} FROM entries WHERE id = ?", (entry_id,)
            ).fetchone()
        if row is None:
            raise EntryNotFoundError(f"There is no library entry with id {entry_id}.")
        return entry_from_row(self.root, row)

    def get_many(self, ids: list[int]) -> list[Entry]:
        """Entries for ``ids`` in the same order; ids that no longer exist are skipped."""
        found: dict[int, Entry] = {}
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for row in self._conn.execute(
                    f"SELECT {ENTRY_COLUMNS} FROM entries WHERE id IN ({marks})", chunk
                ):
                    entry = entry_from_row(self.root, row)
                    found[entry.id] = entry
        return [found[i] for i in ids if i in found]

    def search(
        self,
        text: str = "",
        favorites_only: bool = False,
        order: str = "newest",
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Entry]:
        where, params = search.where_clause(text, favorites_only)
        sql = f"SELECT {ENTRY_COLUMNS} FROM entries{where}{search.order_clause(order)} LIMIT ? OFFSET ?"
        with self._lock:
            rows = self._conn.execute(sql, [*params, -1 if limit is None else limit, offset]).fetchall()
        return [entry_from_row(self.root, row) for row in rows]

    def ids(self, text: str = "", favorites_only: bool = False, order: str = "newest") -> list[int]:
        """Just the ids, in order: what a view of 10,000 items needs up front."""
        where, params = search.where_clause(text, favorites_only)
        with self._lock:
            rows = self._conn.execute(f"SELECT id FROM entries{where}{search.order_clause(order)}", params)
            return [row[0] for row in rows]

    def count(self, text: str = "", favorites_only: bool = False) -> int:
        where, params = search.where_clause(text, favorites_only)
        with self._lock:
            return int(self._conn.execute(f"SELECT COUNT(*) FROM entries{where}", params).fetchone()[0])

    def ids_by_metadata(self, key: str) -> dict[str, int]:
        """Entry id by the value of ``key`` in the metadata, for every entry whose metadata has it (the
        batch job ids, ``history/saving.py``)."""
        try:
            with self._lock:
                return search.ids_by_metadata(self._conn, key)
        except sqlite3.Error as e:
            raise _translate(e, "The library index could not be searched") from e

    def all_tags(self) -> list[str]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT value FROM entries, json_each(entries.tags)"
            ).fetchall()
        return sorted((row[0] for row in rows), key=str.casefold)

    # Changing

    def set_favorite(self, entry_id: int, favorite: bool) -> Entry:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE entries SET favorite = ? WHERE id = ?", (int(bool(favorite)), entry_id)
            )
        if cursor.rowcount == 0:
            raise EntryNotFoundError(f"There is no library entry with id {entry_id}.")
        return self.get(entry_id)

    def set_tags(self, entry_id: int, tags: list[str]) -> Entry:
        clean = search.normalise_tags(tags)
        with self._write() as conn:
            cursor = conn.execute("UPDATE entries SET tags = ? WHERE id = ?", (json.dumps(clean), entry_id))
        if cursor.rowcount == 0:
            raise EntryNotFoundError(f"There is no library entry with id {entry_id}.")
        return self.get(entry_id)

    def delete(self, entry_id: int) -> None:
        """Move the image to the OS trash, drop its thumbnail, then remove the row."""
        entry = self.get(entry_id)
        if entry.path.exists():
            self._trash(entry.path)
        if entry.thumbnail_path is not None:
            entry.thumbnail_path.unlink(missing_ok=True)
        if entry.mask_path is not None and entry.mask_path.exists():
            self._trash(entry.mask_path)
        depth = files.depth_path_of(entry.path)  # a depth entry's float map (ui/depth)
        if depth.exists():
            self._trash(depth)
        guides = guides_folder(entry.path)  # its guide pictures (panorama/guide_copies.py)
        if guides.is_dir():
            self._trash(guides)
        with self._write() as conn:
            conn.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
            # Its edits stay, as roots of their own (parent_file still names the image they came from).
            conn.execute("UPDATE entries SET parent_id = NULL WHERE parent_id = ?", (entry_id,))

    def rescan(self) -> RescanReport:
        """Re-read every image in the folder and rebuild the index from them (favourites and tags kept);
        make every missing thumbnail again."""
        try:
            report = scan.reconcile(self._database, self.root, full=True)
        except sqlite3.Error as e:
            raise _translate(e, "The library could not be rescanned") from e
        report.made_thumbnails = make_missing_thumbnails(self.root, files.list_images(self.root))
        return report

    def ensure_thumbnail(self, entry: Entry) -> Path:
        """The entry's thumbnail, regenerated from the image if it was deleted. Safe from worker threads."""
        thumbnail = entry.thumbnail_path or self.root / files.thumbnail_relpath(
            entry.path.relative_to(self.root).as_posix()
        )
        return ensure_thumbnail(entry.path, thumbnail)

    def integrity_check(self) -> str:
        with self._lock:
            return "\n".join(row[0] for row in self._conn.execute("PRAGMA integrity_check"))

    @contextmanager
    def _database(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")


def _prepare_folder(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
        for sub in (files.IMAGES_DIR, files.THUMBNAILS_DIR):
            (root / sub).mkdir(exist_ok=True)
        # A name of its own per call: the app's gallery and its generation worker open the same library
        # from two threads of one process, and a probe named by the pid alone was removed by the other.
        probe = root / f"{files.PARTIAL_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-probe"
        with probe.open("xb"):
            pass
        probe.unlink()
    except OSError as e:
        if fileio.is_read_only(e):
            raise LibraryReadOnlyError(
                f"The library folder {root} is read-only, so panoramas cannot be saved there. "
                "Choose a writable folder for the library."
            ) from e
        raise _translate_os(e, f"The library folder {root} cannot be used") from e


def _enable_wal(conn: sqlite3.Connection) -> str:
    """Switch the index to WAL and return the journal mode it ended up in.

    The switch needs the file to itself for a moment, and SQLite answers "database is locked" at once,
    without its busy handler, when another process is opening the same fresh library (the CLI and the
    app, or two CLIs): wait for it here, as the busy timeout would.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _connect(db_path: Path) -> sqlite3.Connection:
    """Open, configure, check and migrate the index; ``_CorruptIndex`` if the file is damaged."""
    try:
        conn = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as e:
        raise _translate(e, f"The library index {db_path} cannot be opened") from e
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        mode = _enable_wal(conn)
        if str(mode).lower() != "wal":
            log.warning("The library index runs in %s mode, not WAL (a network drive?)", mode)
        conn.execute("PRAGMA synchronous = FULL")
        problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise _CorruptIndex("; ".join(problems[:3]))
        migrate(conn)
    except _CorruptIndex:
        conn.close()
        raise
    except sqlite3.DatabaseError as e:
        conn.close()
        if _error_name(e) in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
            raise _CorruptIndex(str(e)) from e
        raise _translate(e, f"The library index {db_path} cannot be opened") from e
    except BaseException:
        conn.close()
        raise
    return conn


def _set_aside(db_path: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    aside = db_path.with_name(f"{db_path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = db_path.with_name(f"{db_path.name}.corrupt-{stamp}-{n}")
    # The -wal/-shm companions travel with it, so the set-aside copy stays readable as it was.
    for suffix in ("-wal", "-shm"):
        companion = db_path.with_name(db_path.name + suffix)
        if companion.exists():
            os.replace(companion, aside.with_name(aside.name + suffix))
    os.replace(db_path, aside)
    return aside


_MESSAGE_NAMES = (
    ("not a database", "SQLITE_NOTADB"),
    ("malformed", "SQLITE_CORRUPT"),
    ("disk is full", "SQLITE_FULL"),
    ("readonly", "SQLITE_READONLY"),
    ("read-only", "SQLITE_READONLY"),
    ("locked", "SQLITE_BUSY"),
    ("unable to open", "SQLITE_CANTOPEN"),
)


def _error_name(error: sqlite3.Error) -> str:
    name = getattr(error, "sqlite_errorname", None)  # Python 3.11+
    if name:
        # Extended codes (SQLITE_READONLY_DBMOVED, SQLITE_IOERR_WRITE) reduce to their primary code.
        return "_".join(str(name).split("_")[:2])
    text = str(error).lower()
    for fragment, mapped in _MESSAGE_NAMES:
        if fragment in text:
            return mapped
    return "SQLITE_ERROR"


def _translate(error: sqlite3.Error, context: str) -> LibraryError:
    name = _error_name(error)
    if name == "SQLITE_FULL":
        return LibraryDiskFullError(f"{context}: the disk is full. Free some space and try again.")
    if name in ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM"):
        return LibraryReadOnlyError(
            f"{context}: the location is read-only or not accessible ({error}). "
            "Choose a writable folder for the library."
        )
    if name in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return LibraryError(
            f"{context}: another program kept the library locked for over {BUSY_TIMEOUT_S:.0f} s. "
            "Close other DiT360 windows and try again."
        )
    return LibraryError(f"{context} ({error}).")


def _translate_os(error: OSError, context: str) -> LibraryError:
    if fileio.is_disk_full(error):
        return LibraryDiskFullError(f"{context}: the disk is full. Free some space and try again.")
    if fileio.is_read_only(error):
        return LibraryReadOnlyError(
            f"{context}: the location is read-only ({error.strerror}). Choose a writable library folder."
        )
    return LibraryError(f"{context} ({error}).")
