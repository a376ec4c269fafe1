"""Checks of every path a run will write, made before the model loads.

A generation takes minutes; a bad ``--output``, ``--save-latent`` or ``--library`` found only at the end
used to cost the whole run (and, before the recovery folder, the picture). Each check names the option
and the path: a folder, a device or a read-only place exits 2, too little free space exits 6.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dit360_desktop.models.fsutil import format_bytes
from dit360_desktop.panorama import fileio
from dit360_desktop.panorama.errors import InsufficientSpaceError, RequestError

# Room for the PNG's metadata chunks, a thumbnail and the index row on top of the pixels.
_MARGIN_BYTES = 1_000_000


def png_size_bound(width: int, height: int) -> int:
    """A generous upper bound of a PNG of the panorama (raw RGB; compression only makes it smaller)."""
    return width * height * 3 + _MARGIN_BYTES


def latent_size(width: int, height: int, channels: int = 16) -> int:
    """The ``--save-latent`` file: float32 (1, C, H/8, W/8) plus a small header."""
    return channels * (height // 8) * (width // 8) * 4 + 64_000


def check_output_file(path: Path, option: str, expected_bytes: int) -> Path:
    """An existing regular file or a new name, in an existing folder we can write, with room for it."""
    path = path.expanduser()
    try:
        fileio.check_regular_target(path)
    except fileio.NotARegularFileError as e:
        raise RequestError(option, str(e)) from e
    folder = path.absolute().parent
    if not folder.is_dir():
        raise RequestError(option, f"the folder of {path} does not exist")
    if path.exists() and not os.access(path, os.W_OK):
        raise RequestError(option, f"{path} cannot be written (no permission)")
    probe_folder(folder, option)
    check_free_space(folder, option, expected_bytes)
    return path


def check_library_folder(path: Path | None) -> None:
    """The parts ``Library.open`` would only report as a generic failure: a file given as the folder."""
    if path is None:
        return
    path = path.expanduser()
    if path.exists() and not path.is_dir():
        raise RequestError("--library", f"{path} is a file, not a folder; give the library's folder")


def probe_folder(folder: Path, option: str) -> None:
    """Create and delete a temp file: the only reliable test of a read-only or full drive."""
    probe = fileio.temp_path_for(folder / "probe")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        probe.unlink()
    except OSError as e:
        reason = "it is read-only" if fileio.is_read_only(e) else (e.strerror or str(e)).lower()
        if fileio.is_disk_full(e):
            raise InsufficientSpaceError(f"{option}: the drive of {folder} is full.") from e
        raise RequestError(option, f"cannot write in {folder}: {reason}") from e


def check_free_space(folder: Path, option: str, expected_bytes: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < expected_bytes:
        raise InsufficientSpaceError(
            f"{option}: {folder} has {format_bytes(free)} free, but the result needs up to "
            f"{format_bytes(expected_bytes)}. Free some space or choose another place."
        )


def check_prompt_text(option: str, text: str) -> None:
    # PNG text chunks cannot hold NUL (it ends the keyword), and no real prompt contains one.
    if "\x00" in text:
        raise RequestError(option, "contains a NUL character; remove it (PNG text cannot hold it)")
