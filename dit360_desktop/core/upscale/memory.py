"""Keeping freed memory in the process while a tiled upscale runs (glibc).

A convolutional SR network allocates each layer's activations (tens of MB for a 512² tile) and frees the
previous layer's. glibc serves blocks that large with ``mmap`` and gives them back with ``munmap`` on
free, so every layer of every tile faults its pages in again from the kernel, zeroed: on the CPU that
re-faulting was most of the upscale's time (tiled ×4 to 8192×4096: 12.6–15.3 s, against 4.5–5.1 s with
freed memory kept, at the same peak; issue 21, item 16). While ``freed_memory_kept()`` is active, large
blocks come from the heap (``M_MMAP_MAX`` 0) and freed ones stay there (a high ``M_TRIM_THRESHOLD``), so
the next layer reuses the same pages. Afterwards the defaults are put back and ``malloc_trim`` returns
the kept memory, so the app's footprint after an upscale is what it was.

Other C libraries (macOS, Windows, musl) have no such switches; there it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

# mallopt parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
# glibc's own defaults, put back afterwards (DEFAULT_MMAP_MAX, DEFAULT_TRIM_THRESHOLD).
DEFAULT_MMAP_MAX = 65536
DEFAULT_TRIM_THRESHOLD = 128 * 1024
KEEP_TRIM_THRESHOLD = 2**31 - 1  # an int; the largest the call takes

_lock = threading.Lock()
_users = 0


def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError) as e:
        log.debug("glibc's malloc switches are not reachable: %s", e)
        return None


def available() -> bool:
    return _glibc() is not None


@contextmanager
def freed_memory_kept() -> Iterator[bool]:
    """Keep freed memory for reuse inside the block (nested and concurrent uses share one setting);
    yields whether the allocator could be told to."""
    global _users
    libc = _glibc()
    if libc is None:
        yield False
        return
    with _lock:
        _users += 1
        if _users == 1:
            libc.mallopt(M_MMAP_MAX, 0)
            libc.mallopt(M_TRIM_THRESHOLD, KEEP_TRIM_THRESHOLD)
    try:
        yield True
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
                libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)
