"""Load torch's shared libraries without holding the GIL, ahead of ``import torch``.

``import torch`` loads ``libtorch_cpu`` (hundreds of MB, with thousands of static initialisers that
register the operators) while the importing thread holds the GIL: 220-340 ms in one piece on a 2-core
machine, the longest stall the window had between launch and idle however the import was scheduled
(issue 21, item 12). Python's own loaders (the import system and ``ctypes.CDLL``) both call ``dlopen``
with the GIL held, but a foreign call through ctypes releases it. So the generation thread first calls
the C library's ``dlopen`` on those files through ctypes: the loading and the static initialisers run
while the UI thread keeps the GIL, and the later ``import torch`` finds them loaded and only binds them.

The flags are the ones torch's own import uses (``torch/__init__.py``): ``libtorch_global_deps`` with
``RTLD_GLOBAL`` (it brings OpenMP and, in CUDA builds, the CUDA libraries torch wants shared), the
Python binding and the libraries it links with ``RTLD_LOCAL`` as the import system loads an extension.
Loading is only brought forward: when a file is absent or does not load (a CUDA build whose libraries
torch itself finds another way), this stops and ``import torch`` does all the work and reports any
error as it always does. Windows needs none of this: torch's ``__init__`` loads its DLLs through
``kernel32`` calls made with ctypes, which already release the GIL.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

# In the order torch's import needs them; each one's own dependencies come with it.
_LIBRARIES: tuple[tuple[str, bool], ...] = (
    ("libtorch_global_deps", True),
    ("libtorch_python", False),
)


def torch_library_folder() -> Path | None:
    """Where the installed torch keeps its shared libraries, found without importing torch."""
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "lib"
    return folder if folder.is_dir() else None


def preload_torch_libraries() -> list[str]:
    """dlopen torch's libraries with the GIL released; returns the names loaded (none on Windows, none
    once torch is imported, none where torch is absent). Call from the thread that imports torch."""
    if sys.platform == "win32" or "torch" in sys.modules:
        return []
    folder = torch_library_folder()
    if folder is None:
        return []
    suffix = ".dylib" if sys.platform == "darwin" else ".so"
    libc = ctypes.CDLL(None)
    dlopen = libc.dlopen
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    loaded: list[str] = []
    started = time.perf_counter()
    for name, shared in _LIBRARIES:
        path = folder / f"{name}{suffix}"
        if not path.is_file():
            break
        mode = os.RTLD_NOW | (os.RTLD_GLOBAL if shared else os.RTLD_LOCAL)
        # The handle is kept on purpose: torch's import holds the libraries from then on.
        if not dlopen(os.fsencode(path), mode):
            log.debug("torch's %s did not load ahead of its import; the import will load it", path.name)
            break
        loaded.append(name)
    if loaded:
        log.info(
            "torch's libraries loaded ahead of its import in %.2f s: %s",
            time.perf_counter() - started,
            ", ".join(loaded),
        )
    return loaded
