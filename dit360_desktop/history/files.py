"""Crash-safe file writes and the library's on-disk layout.

A file appears under its final name only once it is complete and on disk: it is written to a ``.partial-``
temp file next to it, fsynced, renamed with ``os.replace`` (atomic on POSIX and Windows), and the folder is
fsynced so the rename itself survives a power cut. Temp files carry the writer's pid, so a later open can
tell a dead writer's leftovers from a live instance's save in progress.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import time
from datetime import datetime
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

PARTIAL_PREFIX = ".partial-"
IMAGES_DIR = "images"
THUMBNAILS_DIR = "thumbnails"
THUMBNAIL_SUFFIX = ".jpg"
# A leftover older than this is removed even if its pid is alive again (pid reuse, another machine).
STALE_PARTIAL_S = 3600.0


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{PARTIAL_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{path.name}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    # Windows cannot open a directory for fsync; NTFS journals the rename itself.
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (
        errno.ENOSPC,
        getattr(errno, "EDQUOT", errno.ENOSPC),
    )


def is_read_only(error: BaseException) -> bool:
    return isinstance(error, PermissionError) or (
        isinstance(error, OSError) and error.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
    )


def image_relpath(created_at: float, seed: int | None) -> str:
    """A new, unique-enough name: month folder, timestamp, seed, random suffix (posix separators)."""
    moment = datetime.fromtimestamp(created_at)
    seed_part = f"s{seed}" if seed is not None else "s-"
    name = f"{moment:%Y%m%d-%H%M%S}-{seed_part}-{secrets.token_hex(3)}.png"
    return f"{IMAGES_DIR}/{moment:%Y-%m}/{name}"


def thumbnail_relpath(image_relpath: str) -> str:
    """Thumbnails mirror the image tree, so the path is known without a database lookup."""
    parts = image_relpath.split("/")
    if parts and parts[0] == IMAGES_DIR:
        parts = parts[1:]
    stem_path = "/".join(parts)
    return f"{THUMBNAILS_DIR}/{stem_path.rsplit('.', 1)[0]}{THUMBNAIL_SUFFIX}"


def list_images(root: Path) -> list[str]:
    """Every finished PNG under ``root/images``, as posix paths relative to ``root``."""
    found: list[str] = []
    base = root / IMAGES_DIR
    if not base.is_dir():
        return found
    stack = [base]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as items:
            for item in items:
                if item.name.startswith(PARTIAL_PREFIX):
                    continue
                if item.is_dir(follow_symlinks=False):
                    stack.append(Path(item.path))
                elif item.is_file() and item.name.lower().endswith(".png"):
                    found.append(Path(item.path).relative_to(root).as_posix())
    return found


def list_thumbnails(root: Path) -> list[str]:
    found: list[str] = []
    base = root / THUMBNAILS_DIR
    if base.is_dir():
        for path in base.rglob(f"*{THUMBNAIL_SUFFIX}"):
            if not path.name.startswith(PARTIAL_PREFIX):
                found.append(path.relative_to(root).as_posix())
    return found


def remove_dead_partials(root: Path) -> int:
    """Delete temp files left by writers that died mid-save; keep those of live writers."""
    removed = 0
    now = time.time()
    for sub in (IMAGES_DIR, THUMBNAILS_DIR):
        base = root / sub
        if not base.is_dir():
            continue
        for path in base.rglob(f"{PARTIAL_PREFIX}*"):
            pid_text = path.name[len(PARTIAL_PREFIX) :].split("-", 1)[0]
            try:
                age = now - path.stat().st_mtime
            except FileNotFoundError:
                continue
            alive = pid_text.isdigit() and psutil.pid_exists(int(pid_text)) and int(pid_text) != 0
            if alive and age < STALE_PARTIAL_S:
                continue
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                continue
    if removed:
        log.info("Removed %d unfinished temp files left by an interrupted save", removed)
    return removed
