"""sha256 of files on disk, in large reads (OpenSSL's SHA extensions make this faster than sha256sum)."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

CHUNK = 8 << 20

BytesFn = Callable[[int], None]  # called with the byte count of each chunk processed


class Stopped(Exception):
    """The caller's stop flag was raised mid-file."""


def hash_file(
    path: Path, on_bytes: BytesFn | None = None, should_stop: Callable[[], bool] | None = None
) -> str:
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as handle:
        while n := handle.readinto(buffer):
            digest.update(view[:n])
            if on_bytes is not None:
                on_bytes(n)
            if should_stop is not None and should_stop():
                raise Stopped(str(path))
    return digest.hexdigest()


def copy_and_hash(
    src: Path, dest: Path, on_bytes: BytesFn | None = None, should_stop: Callable[[], bool] | None = None
) -> str:
    """Copy ``src`` to ``dest`` (following symlinks, as in an HF cache); returns the sha256 of the bytes."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with src.open("rb", buffering=0) as reader, dest.open("wb") as writer:
        while n := reader.readinto(buffer):
            digest.update(view[:n])
            writer.write(view[:n])
            if on_bytes is not None:
                on_bytes(n)
            if should_stop is not None and should_stop():
                raise Stopped(str(src))
    shutil.copystat(src, dest)
    return digest.hexdigest()
