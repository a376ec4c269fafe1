"""Move a closed library to another folder: its index, images and thumbnails, nothing else.

Entries store paths relative to the library folder, so moving the three parts is the whole move. Every
library connection must be closed first (the app does it at start-up, before it opens one). A target
that already holds a library or those folders is refused rather than merged.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from dit360_desktop.history.errors import LibraryError
from dit360_desktop.history.files import IMAGES_DIR, THUMBNAILS_DIR
from dit360_desktop.history.library import DB_NAME

log = logging.getLogger(__name__)

# SQLite's write-ahead log and shared-memory files travel with the index.
_DB_SUFFIXES = ("", "-wal", "-shm", "-journal")


def library_parts(root: Path) -> list[Path]:
    """The files and folders of the library at ``root`` that exist."""
    names = [DB_NAME + suffix for suffix in _DB_SUFFIXES] + [IMAGES_DIR, THUMBNAILS_DIR]
    return [root / name for name in names if (root / name).exists()]


def move_library(source: str | Path, target: str | Path) -> int:
    """Move the library at ``source`` into ``target``; returns how many parts were moved."""
    source, target = Path(source).expanduser().absolute(), Path(target).expanduser().absolute()
    if source == target:
        return 0
    if target.is_relative_to(source):
        raise LibraryError(f"The new library folder {target} is inside the old one; choose another folder.")
    parts = library_parts(source)
    clash = [p.name for p in library_parts(target)]
    if clash:
        raise LibraryError(
            f"{target} already holds a library ({', '.join(clash)}); "
            "choose an empty folder or use it as it is."
        )
    try:
        target.mkdir(parents=True, exist_ok=True)
        for part in parts:
            # shutil.move renames on one drive and copies then deletes across drives.
            shutil.move(str(part), str(target / part.name))
    except OSError as e:
        raise LibraryError(
            f"The library could not be moved from {source} to {target} ({e.strerror or e}); the files "
            f"already moved are in {target}."
        ) from e
    log.info("Moved the library from %s to %s (%d parts)", source, target, len(parts))
    return len(parts)
