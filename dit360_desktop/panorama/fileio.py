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
from typing import Any, NoReturn

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


# POSIX file systems allow 255 bytes per name (ext4, APFS, NTFS in UTF-16 units, tmpfs).
NAME_MAX_BYTES = 255
_BAD_TARGET_ERRNOS = frozenset(
    {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.ENXIO, errno.EEXIST}
)


def is_bad_target(error: BaseException) -> bool:
    """True when the place to write is the problem, not the disk: a missing folder, a folder or device
    where the file should be, a name too long, a read-only drive or a write the permissions refuse."""
    if isinstance(error, NotARegularFileError) or is_read_only(error):
        return True
    return isinstance(error, OSError) and error.errno in _BAD_TARGET_ERRNOS


def target_problem(error: OSError) -> str:
    """What is wrong with a place to write, in words, for ``is_bad_target`` errors (no path: the caller
    names it)."""
    if isinstance(error, NotARegularFileError):
        return f"it is {error.kind}, not a regular file, so it was left alone; give the path of a file"
    if is_read_only(error):
        return "cannot be written (a read-only drive or no permission); choose a writable location"
    if error.errno == errno.ENOENT:
        return "its folder does not exist; create it or choose another location"
    if error.errno in (errno.ENOTDIR, errno.EEXIST):
        return "part of its folder path is a file, not a folder; choose another location"
    if error.errno == errno.EISDIR:
        return "it is a folder; give the path of a file"
    if error.errno == errno.ENAMETOOLONG:
        return f"the name is too long for the file system (at most {NAME_MAX_BYTES} bytes)"
    return (error.strerror or str(error)).rstrip(".").lower()


def temp_path_for(path: Path) -> Path:
    """A fresh temp name next to ``path`` that fits wherever ``path``'s own name fits: the prefix takes
    the place of the name's tail when the two together would pass the 255-byte limit."""
    prefix = f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-"
    room = NAME_MAX_BYTES - len(prefix.encode())
    tail = path.name.encode("utf-8", "surrogateescape")[:room].decode("utf-8", "ignore")
    return path.with_name(prefix + tail)


def _raise_as_users(error: OSError, temp: Path, path: Path) -> NoReturn:
    """Re-raise the error of a write to ``temp`` aimed at ``path``: the person never sees the temp name."""
    if isinstance(error, NotARegularFileError) or error.filename not in (None, str(temp), temp):
        raise error
    try:
        renamed = type(error)(error.errno, error.strerror or str(error), str(path))
    except TypeError:
        raise error from None
    raise renamed from error


def write_atomic(path: str | os.PathLike[str], data: bytes | Callable[[Path], None]) -> Path:
    """Put ``data`` at ``path`` atomically: the path holds the old file or the complete new one.

    ``data`` is the bytes, or a function that writes the file at the temp path it is given (for writers
    that only take a path, such as safetensors). Returns ``path``.
    """
    return write_atomic_set({Path(path): data})[0]


WRITE_CHUNK_BYTES = 8 << 20


def write_atomic_parts(
    path: str | os.PathLike[str],
    parts: list[bytes | memoryview],
    on_progress: Callable[[float], None] | None = None,
    chunk_bytes: int | None = None,
) -> Path:
    """``write_atomic`` of ``parts`` one after the other, calling ``on_progress(fraction written)`` after
    each chunk of ``chunk_bytes`` (default ``WRITE_CHUNK_BYTES``). An exception raised there (a cancel)
    removes the temp file like any failure, so the target is left as it was."""
    chunk_bytes = chunk_bytes or WRITE_CHUNK_BYTES
    views = [memoryview(part).cast("B") for part in parts]
    total = max(1, sum(view.nbytes for view in views))

    def write(temp: Path) -> None:
        written = 0
        with open(temp, "wb") as handle:
            for view in views:
                for start in range(0, view.nbytes, chunk_bytes):
                    chunk = view[start : start + chunk_bytes]
                    handle.write(chunk)
                    written += chunk.nbytes
                    if on_progress is not None:
                        on_progress(written / total)

    return write_atomic(path, write)


def write_atomic_set(files: dict[Path, bytes | Callable[[Path], None]]) -> list[Path]:
    """``write_atomic`` for files that belong together (a canvas and its mask): every file is written
    and fsynced under its temp name first, and only then are they renamed into place, so a full disk or
    a bad target for any of them leaves none of them behind."""
    targets = [Path(path) for path in files]
    for path in targets:
        check_regular_target(path)
    temps: list[Path] = []
    try:
        for path, data in zip(targets, files.values(), strict=True):
            temps.append(_write_temp(path, data))
        # Checked again just before the renames: something may have appeared there while we wrote.
        for path in targets:
            check_regular_target(path)
        for temp, path in zip(temps, targets, strict=True):
            try:
                os.replace(temp, path)
            except OSError as e:
                _raise_as_users(e, temp, path)
    except BaseException:
        for temp in temps:
            _remove_temp(temp)
        raise
    for folder in {path.parent for path in targets}:
        fsync_dir(folder)
    return targets


def _write_temp(path: Path, data: bytes | Callable[[Path], None]) -> Path:
    """The complete, fsynced file at a fresh temp name next to ``path``; nothing left on a failure."""
    temp = temp_path_for(path)
    try:
        # O_EXCL: never follow or reuse someone else's file; 0o666 lets the umask decide the final mode.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as e:
        _raise_as_users(e, temp, path)
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
    except OSError as e:
        _remove_temp(temp)
        _raise_as_users(e, temp, path)
    except BaseException:
        _remove_temp(temp)
        raise
    return temp


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
    folder: str | os.PathLike[str],
    writers: dict[str, Callable[[Path], object]],
    *,
    replaces: Callable[[str], bool] | None = None,
) -> list[Path]:
    """All or nothing for a set of files: each ``writers[name](path)`` writes into a temp folder next to
    ``folder``, and only a complete set is moved into place. A failure leaves the folder as it was.

    ``replaces(name)`` says which files already in ``folder`` belong to an earlier set of the same kind
    (the faces of an older export, whatever their file type): they go, so the folder never mixes two
    sets. A folder holding only such files is swapped whole (two renames); one that also holds other
    files keeps them, and the old set is moved aside until the new one is in, and moved back on a
    failure. Returns the final paths.
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
            old = [
                entry
                for entry in folder.iterdir()
                if entry.name in writers or (replaces is not None and replaces(entry.name))
            ]
            if len(old) == sum(1 for _ in folder.iterdir()):
                _swap_folders(folder, staging)
            else:
                _replace_members(folder, staging, list(writers), old)
        fsync_dir(folder.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [folder / name for name in writers]


def _swap_folders(folder: Path, staging: Path) -> None:
    aside = temp_path_for(folder)
    folder.rename(aside)
    try:
        staging.rename(folder)
    except BaseException:
        aside.rename(folder)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _replace_members(folder: Path, staging: Path, names: list[str], old: list[Path]) -> None:
    aside = temp_path_for(folder)
    aside.mkdir()
    moved_out: list[Path] = []
    moved_in: list[Path] = []
    try:
        for entry in old:
            entry.rename(aside / entry.name)
            moved_out.append(entry)
        for name in names:
            (staging / name).rename(folder / name)
            moved_in.append(folder / name)
    except BaseException:
        for path in moved_in:
            path.unlink(missing_ok=True)
        for entry in moved_out:
            (aside / entry.name).rename(entry)
        raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)
