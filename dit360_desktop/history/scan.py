"""Rebuilding the index from the images themselves.

Every library PNG carries its complete parameters in our JSON chunk, so the files are the truth and the
SQLite index is a cache of them: ``reconcile`` adopts images the index does not know (orphans left by a
crash between rename and insert, or files copied in by hand), flags rows whose image has gone, and on a full
rescan re-reads every file.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image

from dit360_desktop.history import files
from dit360_desktop.history.entry import RescanReport
from dit360_desktop.panorama import imageio
from dit360_desktop.panorama.errors import ImageLoadError

# The JSON chunk's keys (panorama/result.py writes them): CREATED_AT_KEY is written into every library PNG,
# so a rebuilt index keeps the dates; LINEAGE_KEY holds an edit's {"parent": relpath, "mask": relpath}.
from dit360_desktop.panorama.result import CREATED_AT_KEY, LINEAGE_KEY, REQUEST_KEY, SEED_KEY

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Annotations:
    """What the user added after the save (not stored in the PNG): kept across a rebuild when salvageable."""

    favorite: bool
    tags: list[str]


def row_values(
    relpath: str, metadata: dict[str, Any], width: int, height: int, fallback_created: float
) -> dict[str, Any]:
    """The index columns for one image, from its JSON chunk; ValueError if the chunk is not ours."""
    request = metadata.get(REQUEST_KEY)
    if not isinstance(request, dict) or not isinstance(request.get("prompt"), str):
        raise ValueError("the JSON chunk has no request with a prompt")
    seed = metadata.get(SEED_KEY, request.get("seed"))
    created = fallback_created
    stamp = metadata.get(CREATED_AT_KEY)
    if isinstance(stamp, str):
        try:
            created = datetime.fromisoformat(stamp).timestamp()
        except ValueError:
            log.warning("Ignoring unreadable created_at %r in %s", stamp, relpath)
    negative = request.get("negative_prompt") or ""
    lineage = metadata.get(LINEAGE_KEY)
    lineage = lineage if isinstance(lineage, dict) else {}
    return {
        "file": relpath,
        "thumbnail": files.thumbnail_relpath(relpath),
        "prompt": request["prompt"],
        "negative_prompt": negative if isinstance(negative, str) else str(negative),
        "params": json.dumps(request, sort_keys=True),
        "seed": seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        "width": int(width),
        "height": int(height),
        "models": json.dumps(metadata.get("models", {}), sort_keys=True),
        "timings": json.dumps(metadata.get("timings", {}), sort_keys=True),
        "created_at": created,
        "metadata": json.dumps(metadata, sort_keys=True),
        "parent_file": _text_or_none(lineage.get("parent")),
        "mask": _text_or_none(lineage.get("mask")),
    }


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


UPSERT_SQL = """
INSERT INTO entries (file, thumbnail, prompt, negative_prompt, params, seed, width, height, models, timings,
                     created_at, metadata, favorite, tags, missing, parent_file, mask, parent_id)
VALUES (:file, :thumbnail, :prompt, :negative_prompt, :params, :seed, :width, :height, :models, :timings,
        :created_at, :metadata, :favorite, :tags, 0, :parent_file, :mask,
        (SELECT id FROM entries WHERE file = :parent_file))
ON CONFLICT(file) DO UPDATE SET
    thumbnail = excluded.thumbnail, prompt = excluded.prompt, negative_prompt = excluded.negative_prompt,
    params = excluded.params, seed = excluded.seed, width = excluded.width, height = excluded.height,
    models = excluded.models, timings = excluded.timings, created_at = excluded.created_at,
    metadata = excluded.metadata, missing = 0, parent_file = excluded.parent_file, mask = excluded.mask,
    parent_id = excluded.parent_id
"""

# A rebuild reads files in name order, so an edit can be indexed before its parent: link them afterwards.
LINK_PARENTS_SQL = """
UPDATE entries SET parent_id = (SELECT p.id FROM entries AS p WHERE p.file = entries.parent_file)
WHERE parent_file IS NOT NULL AND parent_id IS NULL
"""


def upsert(conn: sqlite3.Connection, values: dict[str, Any], annotations: Annotations | None = None) -> int:
    """Insert or refresh one row (inside the caller's transaction); favourites and tags of a row are kept."""
    row = dict(values)
    row["favorite"] = int(annotations.favorite) if annotations else 0
    row["tags"] = json.dumps(annotations.tags if annotations else [])
    conn.execute(UPSERT_SQL, row)
    return int(conn.execute("SELECT id FROM entries WHERE file = ?", (values["file"],)).fetchone()[0])


def read_image_values(root: Path, relpath: str) -> dict[str, Any]:
    """Index columns from a PNG on disk; ValueError when it is not a readable DiT360 image."""
    path = root / relpath
    try:
        with Image.open(path) as image:
            width, height = image.size
        chunk = imageio.read_metadata(path).dit360
        mtime = path.stat().st_mtime
    except (OSError, ImageLoadError, Image.DecompressionBombError) as e:
        raise ValueError(f"cannot read {relpath}: {e}") from e
    if not chunk:
        raise ValueError(f"{relpath} has no DiT360 parameters")
    return row_values(relpath, chunk, width, height, mtime)


def reconcile(
    database: Callable[[], AbstractContextManager[sqlite3.Connection]],
    root: Path,
    *,
    full: bool,
    salvage: dict[str, Annotations] | None = None,
) -> RescanReport:
    """Bring the index in line with the folder. ``full`` re-reads every image, not just the orphans.

    ``database()`` lends the connection for one short step; file reading happens between the steps, so
    a long rescan on a worker thread does not hold up the gallery's queries on the same connection.
    """
    report = RescanReport()
    report.removed_partials = files.remove_dead_partials(root)
    on_disk = set(files.list_images(root))
    report.scanned = len(on_disk)
    with database() as conn:
        known = {file: bool(missing) for file, missing in conn.execute("SELECT file, missing FROM entries")}

    to_read = sorted(on_disk if full else on_disk - known.keys())
    # Read files before taking the write lock, so another instance's saves are not held up by our disk I/O.
    parsed: list[dict[str, Any]] = []
    for relpath in to_read:
        try:
            parsed.append(read_image_values(root, relpath))
        except ValueError as e:
            log.warning("Not indexing %s: %s", relpath, e)
            report.unrecognised.append(root / relpath)

    gone = [file for file, missing in known.items() if file not in on_disk and not missing]
    back = [file for file, missing in known.items() if file in on_disk and missing]

    with database() as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for values in parsed:
                exists = conn.execute("SELECT 1 FROM entries WHERE file = ?", (values["file"],)).fetchone()
                upsert(conn, values, (salvage or {}).get(values["file"]) if not exists else None)
                if exists:
                    report.refreshed += 1
                else:
                    report.adopted += 1
            conn.executemany("UPDATE entries SET missing = 1 WHERE file = ?", [(f,) for f in gone])
            conn.executemany("UPDATE entries SET missing = 0 WHERE file = ?", [(f,) for f in back])
            if parsed:
                conn.execute(LINK_PARENTS_SQL)
            if full:
                conn.execute("INSERT INTO entries_fts(entries_fts) VALUES ('rebuild')")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    report.flagged_missing = len(gone)
    report.restored = len(back)
    if full:
        report.removed_thumbnails = _remove_stray_thumbnails(root, on_disk)
    return report


def _remove_stray_thumbnails(root: Path, images: set[str]) -> int:
    wanted = {files.thumbnail_relpath(relpath) for relpath in images}
    removed = 0
    for relpath in files.list_thumbnails(root):
        if relpath not in wanted:
            (root / relpath).unlink(missing_ok=True)
            removed += 1
    return removed


def salvage_annotations(db_path: Path) -> dict[str, Annotations]:
    """Favourites and tags from a damaged index, as far as its pages can still be read."""
    found: dict[str, Annotations] = {}
    try:
        conn = sqlite3.connect(f"file:{db_path.as_posix()}?mode=ro", uri=True)
    except sqlite3.Error as e:
        log.warning("Cannot open the damaged index %s to recover favourites and tags: %s", db_path, e)
        return found
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(entries)")}
        tags_sql = "tags" if "tags" in columns else "'[]'"
        for file, favorite, tags in conn.execute(f"SELECT file, favorite, {tags_sql} FROM entries"):
            try:
                tag_list = [t for t in json.loads(tags) if isinstance(t, str)]
            except (TypeError, ValueError):
                tag_list = []
            if isinstance(file, str) and (favorite or tag_list):
                found[file] = Annotations(bool(favorite), tag_list)
    except sqlite3.DatabaseError as e:
        # Damage stops the read part-way; whatever was read before it is still worth keeping.
        log.warning("Recovered %d favourite/tag record(s) before the damaged index failed: %s", len(found), e)
    finally:
        conn.close()
    return found
