"""The library's on-disk layout, and the clean-up of temp files a killed writer left behind.

Every file is written with ``panorama.fileio.write_atomic``: a ``.partial-<pid>-…`` temp file next to the
target, fsynced, renamed, folder fsynced. The pid in the name lets a later open tell a dead writer's
leftovers from a live instance's save in progress.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psutil

from dit360_desktop.panorama.fileio import TEMP_PREFIX
from dit360_desktop.panorama.guide_copies import GUIDES_SUFFIX

# An edit's mask sits beside its image as <image stem>.mask.png (history/lineage.py).
MASK_SUFFIX = ".mask.png"
# A depth entry keeps its float map beside its preview image as <stem>.depth.exr (ui/depth).
DEPTH_SUFFIX = ".depth.exr"

log = logging.getLogger(__name__)

PARTIAL_PREFIX = TEMP_PREFIX
IMAGES_DIR = "images"
THUMBNAILS_DIR = "thumbnails"
THUMBNAIL_SUFFIX = ".jpg"
# A leftover older than this is removed even if its pid is alive again (pid reuse, another machine).
STALE_PARTIAL_S = 3600.0


def depth_path_of(image: Path) -> Path:
    """Where the depth map of a depth entry whose preview is ``image`` is kept."""
    return image.with_name(image.name.rsplit(".", 1)[0] + DEPTH_SUFFIX)


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


def _walk(root: Path, sub: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """(posix path relative to ``root``, entry) for every file under ``root/sub``.

    Plain ``os.scandir`` and string joins: a 10,000-image library is listed at every open, and pathlib
    objects per file made that several times slower.
    """
    stack = [(str(root / sub), sub)]
    while stack:
        folder, relative = stack.pop()
        try:
            items = os.scandir(folder)
        except FileNotFoundError:
            continue
        with items:
            for item in items:
                if item.is_dir(follow_symlinks=False):
                    stack.append((item.path, f"{relative}/{item.name}"))
                elif item.is_file():
                    yield f"{relative}/{item.name}", item


def list_images(root: Path) -> list[str]:
    """Every finished PNG under ``root/images``, as posix paths relative to ``root``."""
    return [
        relpath
        for relpath, item in _walk(root, IMAGES_DIR)
        if not item.name.startswith(PARTIAL_PREFIX)
        and item.name.lower().endswith(".png")
        and not item.name.lower().endswith(MASK_SUFFIX)  # an edit's mask, kept beside its image
        and f"{GUIDES_SUFFIX}/" not in relpath  # a result's guide pictures (panorama/guide_copies.py)
    ]


def list_thumbnails(root: Path) -> list[str]:
    return [
        relpath
        for relpath, item in _walk(root, THUMBNAILS_DIR)
        if not item.name.startswith(PARTIAL_PREFIX) and item.name.endswith(THUMBNAIL_SUFFIX)
    ]


def remove_dead_partials(root: Path) -> int:
    """Delete temp files left by writers that died mid-save; keep those of live writers."""
    # The write probe of Library.open sits in the root; saves write under images/ and thumbnails/.
    with os.scandir(root) as top:
        candidates = [root / item.name for item in top if item.name.startswith(PARTIAL_PREFIX)]
    for sub in (IMAGES_DIR, THUMBNAILS_DIR):
        candidates += [root / rel for rel, item in _walk(root, sub) if item.name.startswith(PARTIAL_PREFIX)]
    removed = 0
    now = time.time()
    for path in candidates:
        pid_text = path.name[len(PARTIAL_PREFIX) :].split("-", 1)[0]
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        alive = pid_text.isdigit() and int(pid_text) != 0 and psutil.pid_exists(int(pid_text))
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
