"""Crash-safe file writes and the file-system checks every layer shares.

A file appears under its final name only once it is complete and on disk: the bytes go to a temp file in
the same folder (``.partial-<pid>-<random>-<name>``), which is fsynced, renamed over the target with
``os.replace`` (atomic on POSIX and Windows), and then the folder is fsynced so the rename itself
survives a power cut. The pid in the temp name lets the history library tell a dead writer's leftovers
from a live save. An existing target that is not a regular file (a device such as ``/dev/full``, a FIFO,
a socket, a folder) is refused: a rename would replace the device node itself.

Any ``OSError`` from the write is re-raised unchanged after the temp file is removed, so callers can ask
``is_disk_full`` / ``is_read_only`` about it.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import secrets
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dit360_desktop.panorama.errors import NotARegularFileError

log = logging.getLogger(__name__)

TEMP_PREFIX = ".partial-"
# EDQUOT (a full user quota) is a full disk to the person at the keyboard; Windows has no such errno.
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
_READ_ONLY_ERRNOS = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


def is_disk_full(error: BaseException) -> bool:
    """True for a full disk or quota (ENOSPC, EDQUOT), also when wrapped in a chain of typed errors."""
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, OSError) and error.errno in _DISK_FULL_ERRNOS:
            return True
        error = error.__cause__
        seen += 1
    return False


def is_read_only(error: BaseException) -> bool:
    """True for a read-only file system or a write the permissions refuse."""
    return isinstance(error, PermissionError) or (
        isinstance(error, OSError) and error.errno in _READ_ONLY_ERRNOS
    )


def file_kind(mode: int) -> str:
    """What a non-regular ``st_mode`` is, in words for a message."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def check_regular_target(path: Path) -> None:
    """Raise NotARegularFileError when ``path`` exists and is not a regular file (symlinks followed)."""
    try:
        mode = Path(path).stat().st_mode
    except FileNotFoundError:
        return
    except OSError:
        return  # the write itself reports what is wrong (permissions, a broken path)
    if not stat.S_ISREG(mode):
        raise NotARegularFileError(path, file_kind(mode))


def check_regular_source(path: Path) -> None:
    """Raise NotARegularFileError unless ``path`` is a regular file: opening a FIFO would block forever."""
    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return  # missing or unreadable: the caller's open() says so
    if not stat.S_ISREG(mode):
        raise NotARegularFileError(path, file_kind(mode), action="read")


def temp_path_for(path: Path) -> Path:
    return path.with_name(f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{path.name}")


def write_atomic(path: str | os.PathLike[str], data: bytes | Callable[[Path], None]) -> Path:
    """Put ``data`` at ``path`` atomically: the path holds the old file or the complete new one.

    ``data`` is the bytes, or a function that writes the file at the temp path it is given (for writers
    that only take a path, such as safetensors). Returns ``path``.
    """
    path = Path(path)
    check_regular_target(path)
    temp = temp_path_for(path)
    # O_EXCL: never follow or reuse someone else's file; 0o666 lets the umask decide the final mode.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        try:
            if callable(data):
                os.close(fd)
                fd = -1
                data(temp)
                fd = os.open(temp, os.O_RDWR | getattr(os, "O_BINARY", 0))
            else:
                _write_all(fd, data, temp)
            os.fsync(fd)
        finally:
            if fd >= 0:
                os.close(fd)
        # Checked again just before the rename: something may have appeared there while we wrote.
        check_regular_target(path)
        os.replace(temp, path)
    except BaseException:
        _remove_temp(temp)
        raise
    fsync_dir(path.parent)
    return path


def write_atomic_json(path: str | os.PathLike[str], data: Any) -> Path:
    """JSON (indented, sorted keys, UTF-8) written with ``write_atomic``; creates the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return write_atomic(path, payload)


def _write_all(fd: int, data: bytes, temp: Path) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "the disk accepted no data", str(temp))
        view = view[written:]


def _remove_temp(temp: Path) -> None:
    try:
        temp.unlink(missing_ok=True)
    except OSError as e:
        # The original error matters more than this one; say where the leftover is so it can be removed.
        log.warning("Could not remove the temporary file %s after a failed write: %s", temp, e)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); Windows cannot open folders and NTFS journals renames."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as e:
        # Some file systems (SMB, some FUSE mounts) cannot fsync a folder. The file itself is already
        # fsynced and in place, so only a real I/O error is worth failing the write for.
        if e.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
        log.debug("This file system cannot fsync the folder %s: %s", folder, e)
    finally:
        os.close(fd)


def write_folder_atomic(
    folder: str | os.PathLike[str], writers: dict[str, Callable[[Path], object]]
) -> list[Path]:
    """All or nothing for a set of files: each ``writers[name](path)`` writes into a temp folder next to
    ``folder``, which is renamed into place at the end. A failure leaves nothing behind.

    An existing empty ``folder`` is replaced; into one that holds other files, each new file is renamed
    over its namesake (every rename atomic, the set no longer). Returns the final paths.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotARegularFileError(folder, "a file", action="used as a folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = temp_path_for(folder)
    staging.mkdir()
    try:
        for name, write in writers.items():
            write(staging / name)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        if not folder.exists():
            staging.rename(folder)
        else:
            for name in writers:
                (staging / name).replace(folder / name)
        fsync_dir(folder.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [folder / name for name in writers]
