"""Small file-system helpers: atomic JSON writes, cross-process file locks, free space."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dit360_desktop.panorama.fileio import write_atomic_json


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON so a crash never leaves half a file (``panorama.fileio.write_atomic_json``)."""
    write_atomic_json(path, data)


def read_json(path: Path) -> Any | None:
    """The parsed file, or None when it is missing or unreadable (a torn write from an old crash)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def free_bytes(folder: Path) -> int:
    """Free space on the drive that holds ``folder`` (or its nearest existing parent)."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def format_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(count) < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def file_lock(
    path: Path, *, poll_s: float = 0.05, should_stop: Callable[[], bool] | None = None
) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) across threads and processes.

    Waits by polling so that ``should_stop`` (a cancel or pause flag) can end the wait; raises
    InterruptedError when it does. The OS drops the lock if the holder dies, so a crash never leaves
    a stale lock behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while not _try_lock(fd):
            if should_stop is not None and should_stop():
                raise InterruptedError(f"Stopped while waiting for {path.name}.")
            time.sleep(poll_s)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)
