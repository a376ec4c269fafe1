"""The one atomic writer: whole files or nothing, never over a device, FIFO, socket or folder."""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
from pathlib import Path

import pytest

from dit360_desktop.history.errors import LibraryDiskFullError
from dit360_desktop.panorama import fileio
from dit360_desktop.panorama.errors import NotARegularFileError

posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs, sockets and /dev are POSIX")


def test_bytes_are_written_whole_and_no_temp_is_left(tmp_path: Path) -> None:
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    assert fileio.write_atomic(target, b"new contents") == target
    assert target.read_bytes() == b"new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_a_writer_function_gets_a_temp_path_in_the_same_folder(tmp_path: Path) -> None:
    seen: list[Path] = []

    def writer(temp: Path) -> None:
        seen.append(temp)
        temp.write_bytes(b"from the writer")

    fileio.write_atomic(tmp_path / "b.bin", writer)
    assert (tmp_path / "b.bin").read_bytes() == b"from the writer"
    assert seen[0].parent == tmp_path and seen[0].name.startswith(fileio.TEMP_PREFIX)
    assert [p.name for p in tmp_path.iterdir()] == ["b.bin"]


def test_a_failing_writer_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "c.bin"
    target.write_bytes(b"keep me")

    def writer(temp: Path) -> None:
        temp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as caught:
        fileio.write_atomic(target, writer)
    assert fileio.is_disk_full(caught.value)
    assert target.read_bytes() == b"keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["c.bin"]


def test_json_round_trips_and_creates_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "x.json"
    fileio.write_atomic_json(target, {"b": 1, "a": "é"})
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": "é", "b": 1}


@posix_only
def test_a_device_behind_a_symlink_is_refused_and_left_alone(tmp_path: Path) -> None:
    link = tmp_path / "out.png"
    link.symlink_to("/dev/null")
    with pytest.raises(NotARegularFileError, match="a device") as caught:
        fileio.write_atomic(link, b"png")
    assert caught.value.exit_code == 2 and str(link) in str(caught.value)
    assert link.is_symlink() and stat.S_ISCHR(Path("/dev/null").stat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


@posix_only
def test_fifo_socket_and_folder_targets_are_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.png"
    folder.mkdir()
    sock_path = tmp_path / "s.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    try:
        for target, kind in ((fifo, "FIFO"), (folder, "folder"), (sock_path, "socket")):
            with pytest.raises(NotARegularFileError, match=kind):
                fileio.write_atomic(target, b"x")
    finally:
        server.close()
    assert stat.S_ISFIFO(fifo.stat().st_mode) and folder.is_dir() and not list(folder.iterdir())
    # Still an OSError, for callers that sort file-system failures.
    assert issubclass(NotARegularFileError, OSError)


@posix_only
def test_reading_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "weights.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(NotARegularFileError, match="not read"):
        fileio.check_regular_source(fifo)


def test_disk_full_is_enospc_and_edquot_also_when_wrapped() -> None:
    assert fileio.is_disk_full(OSError(errno.ENOSPC, "full"))
    if hasattr(errno, "EDQUOT"):
        assert fileio.is_disk_full(OSError(errno.EDQUOT, "quota"))
    assert not fileio.is_disk_full(OSError(errno.EACCES, "denied"))
    try:
        try:
            raise OSError(errno.ENOSPC, "full")
        except OSError as e:
            raise LibraryDiskFullError("the disk is full") from e
    except LibraryDiskFullError as wrapped:
        assert fileio.is_disk_full(wrapped)


def test_read_only_is_erofs_or_a_permission_error() -> None:
    assert fileio.is_read_only(OSError(errno.EROFS, "Read-only file system"))
    assert fileio.is_read_only(PermissionError(errno.EACCES, "denied"))
    assert not fileio.is_read_only(OSError(errno.ENOSPC, "full"))
