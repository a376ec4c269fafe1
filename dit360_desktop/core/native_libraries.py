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

The model libraries bring about 130 more extension modules (numpy's, scipy's, tokenizers, safetensors …),
each ``dlopen``ed by the import system with the GIL held. Warm, each costs little; with a cold file cache
(the first start after a boot) the loader and the first calls into them read from disk meanwhile (a
thread ticking every 5 ms waited up to 67 ms: tests/benchmarks/native_load_ahead.py). The first import
has no way to know these files, so after it the generation thread records them
(``record_native_files``); every later start asks the kernel to read them ahead and loads the extension
modules through the same GIL-free ``dlopen`` first (``load_ahead``).
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
import time
from pathlib import Path

from dit360_desktop.panorama.fileio import write_atomic_json

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


RECORD_VERSION = 1


def _mapped_shared_objects() -> set[str]:
    mapped: set[str] = set()
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                name = line.rstrip("\n").split(maxsplit=5)[-1]
                if name.startswith("/") and ".so" in name and not name.endswith(" (deleted)"):
                    mapped.add(name)
    except OSError:
        pass  # not Linux: the extension modules alone
    return mapped


def loaded_native_files() -> dict[str, list[str]]:
    """The extension modules this process has imported, and (on Linux) every shared object it has mapped:
    the extension modules' own dependencies (scipy's OpenBLAS, Pillow's libraries) and torch's."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    modules = {
        file
        for module in list(sys.modules.values())
        if isinstance(file := getattr(module, "__file__", None), str) and file.endswith(suffixes)
    }
    return {
        "extension_modules": sorted(modules),
        "shared_objects": sorted(_mapped_shared_objects() - modules),
    }


def record_native_files(path: Path) -> None:
    """Write what ``loaded_native_files`` finds to ``path`` for the next start's ``load_ahead``. A record
    that cannot be written is only logged: the next start then loads as the first did."""
    record = {"version": RECORD_VERSION, "executable": sys.executable, **loaded_native_files()}
    try:
        write_atomic_json(path, record)
    except OSError as e:
        log.debug("the native library record %s was not written: %s", path, e)


def _read_record(path: Path) -> dict[str, list[str]]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    # Another interpreter (a new venv, the frozen app beside a source run) has other files.
    if not isinstance(record, dict) or record.get("version") != RECORD_VERSION:
        return {}
    if record.get("executable") != sys.executable:
        return {}
    lists = {key: record.get(key) for key in ("extension_modules", "shared_objects")}
    if not all(isinstance(v, list) and all(isinstance(f, str) for f in v) for v in lists.values()):
        return {}
    return lists


def _import_roots() -> list[Path]:
    roots = []
    for entry in sys.path:
        try:
            roots.append(Path(entry or ".").resolve())
        except OSError:
            continue
    return roots


def _importable(file: str, roots: list[Path], suffixes: tuple[str, ...]) -> bool:
    # Only files Python would load anyway: an extension module under one of the import path's folders.
    # The record lives in the user's cache folder; nothing else it names is ever loaded.
    if not file.endswith(suffixes):
        return False
    try:
        resolved = Path(file).resolve()
    except OSError:
        return False
    return any(resolved.is_relative_to(root) for root in roots)


def read_ahead(files: list[str]) -> int:
    """Ask the kernel to read ``files`` into the file cache (``posix_fadvise``: it starts the reads and
    returns; nothing is copied, so a warm cache costs nothing), so that loading and running them later
    does not wait on the disk with the GIL held. Returns the bytes asked for; files that are gone are
    skipped. macOS and Windows have no such call: there it does nothing."""
    if not hasattr(os, "posix_fadvise"):
        return 0
    total = 0
    for file in files:
        try:
            with open(file, "rb", buffering=0) as handle:
                os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_WILLNEED)
                total += os.fstat(handle.fileno()).st_size
        except OSError:
            continue
    return total


def load_ahead(record: Path) -> None:
    """Bring forward, off the GIL, the native loading that the model libraries' import will do: read ahead
    the files the last start recorded, load torch's libraries, then ``dlopen`` the
    recorded extension modules. Nothing is imported; a module that does not load here is left to the
    import, which reports any error as it always does. Call from the thread that imports torch."""
    if "torch" in sys.modules:
        return
    started = time.perf_counter()
    files = _read_record(record)
    imported = {getattr(m, "__file__", None) for m in list(sys.modules.values())}
    # What the process has mapped already (Qt, numpy: the window's own) is in memory.
    loaded_already = imported | _mapped_shared_objects()
    extension_modules = [f for f in files.get("extension_modules", []) if f not in loaded_already]
    shared_objects = [f for f in files.get("shared_objects", []) if f not in loaded_already]
    asked = read_ahead([*shared_objects, *extension_modules])
    preload_torch_libraries()
    if sys.platform == "win32" or not extension_modules:
        return
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    roots = _import_roots()
    libc = ctypes.CDLL(None)
    dlopen = libc.dlopen
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    # As the import system loads an extension (sys.getdlopenflags()), so that it finds this one loaded.
    mode = sys.getdlopenflags()
    loaded = 0
    for file in extension_modules:
        if not _importable(file, roots, suffixes):
            continue
        # The handle is kept on purpose, as for torch's libraries: the import takes it over.
        if dlopen(os.fsencode(file), mode):
            loaded += 1
    log.info(
        "native files ahead of the model libraries' import in %.2f s: %.0f MB read ahead, %d modules",
        time.perf_counter() - started,
        asked / 1e6,
        loaded,
    )
