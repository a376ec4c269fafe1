"""Temp files left by a crash: ``fileio.write_atomic`` writes ``.partial-<pid>-<random>-<name>`` next to
its target (and ``write_folder_atomic`` a staging folder of that name), and a process that dies mid-write
leaves it behind. The next start removes those whose writer is gone.

A leftover is removed when the process that wrote it no longer runs, or when it is older than a day
(the pid was reused by an unrelated process). Only names of exactly this shape are touched, so a
user's own file that happens to start with ``.partial`` stays.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

import psutil

from dit360_desktop.panorama.fileio import TEMP_PREFIX

log = logging.getLogger(__name__)

STALE_S = 24 * 3600.0
_LEFTOVER = re.compile(rf"^{re.escape(TEMP_PREFIX)}(\d+)-[0-9a-f]{{8}}-.+")


def is_dead_leftover(path: Path, now: float | None = None) -> bool:
    match = _LEFTOVER.match(path.name)
    if match is None:
        return False
    pid = int(match.group(1))
    try:
        age = (now or time.time()) - path.lstat().st_mtime
    except OSError:
        return False
    if pid == os.getpid():
        return False  # a write of this very process, in progress
    return age > STALE_S or not psutil.pid_exists(pid)


def remove_dead_leftovers(folders: Iterable[Path]) -> list[Path]:
    """Remove dead writers' temp files and staging folders directly inside ``folders``; returns them."""
    removed: list[Path] = []
    now = time.time()
    for folder in dict.fromkeys(Path(f) for f in folders):
        try:
            with os.scandir(folder) as entries:
                candidates = [Path(e.path) for e in entries if e.name.startswith(TEMP_PREFIX)]
        except OSError:
            continue  # gone, unplugged or unreadable: nothing of ours to tidy there
        for path in candidates:
            if not is_dead_leftover(path, now):
                continue
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except OSError as e:
                log.warning("Could not remove the leftover temp file %s: %s", path, e)
                continue
            removed.append(path)
    if removed:
        log.info("Removed %d temp files left by an interrupted save: %s", len(removed), removed[:5])
    return removed
