"""Resolve every OpenGL entry point the viewer calls, once, while it sets up.

PyOpenGL looks most GL functions up at their first call (``dlsym``, ``glXGetProcAddress``), and those
wait on the C library's loader lock, which a thread loading a shared library holds until it is done.
The generation thread loads torch's libraries for a quarter of a second (core/native_libraries.py);
the viewer's first ``glUniform3f``, on the UI thread while it held the GIL, waited for it: a 1.25 s
freeze right after start-up (issue 21, item 12). Looked up during the viewer's set-up instead, no later
GL call on any thread (the upload thread's included) waits on the loader.

The names come from the viewer modules' compiled code (their ``co_names``), so a GL call added later is
covered without a list to keep, in a frozen bundle too (its loader gives the code without the source).
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Iterator
from types import CodeType

log = logging.getLogger(__name__)

# Every module of the viewer that calls OpenGL through ``GL.gl…`` (a test checks the list is whole).
VIEWER_GL_MODULES = (
    "dit360_desktop.ui.viewer.gl_cubemap",
    "dit360_desktop.ui.viewer.gl_flat",
    "dit360_desktop.ui.viewer.gl_mask",
    "dit360_desktop.ui.viewer.gl_mesh",
    "dit360_desktop.ui.viewer.gl_program",
    "dit360_desktop.ui.viewer.gl_renderer",
    "dit360_desktop.ui.viewer.gl_upload_thread",
    "dit360_desktop.ui.viewer.qa_overlay",
)


def _code_objects(code: CodeType) -> Iterator[CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _code_objects(const)


def gl_names(module_name: str) -> set[str]:
    """The ``gl…`` names a module's code refers to (attributes of ``GL`` among them)."""
    module = importlib.import_module(module_name)
    get_code = getattr(module.__spec__.loader, "get_code", None)
    code = get_code(module_name) if get_code is not None else None
    if code is None:
        # Only the look-up ahead is lost: each function is then looked up at its first call.
        log.warning("cannot read the code of %s; its OpenGL calls are looked up when first made", module_name)
        return set()
    return {name for c in _code_objects(code) for name in c.co_names if name.startswith("gl")}


def viewer_gl_functions() -> dict[str, object]:
    """The OpenGL functions the viewer calls, by name, as PyOpenGL's ``GL`` module holds them."""
    from OpenGL import GL

    names = set().union(*(gl_names(module) for module in VIEWER_GL_MODULES))
    return {name: getattr(GL, name) for name in sorted(names) if callable(getattr(GL, name, None))}


def _pointer(function: object) -> object:
    # PyOpenGL wraps the C function pointer in layers (argument converters); the innermost resolves.
    while hasattr(function, "wrappedOperation"):
        function = function.wrappedOperation
    return function


def is_resolved(function: object) -> bool:
    pointer = _pointer(function)
    return not hasattr(pointer, "load") or bool(getattr(pointer, "resolved", False))


def resolve_viewer_gl_functions() -> list[str]:
    """Look up every function the viewer calls; needs the viewer's context current. Returns the names
    this OpenGL does not have (called only where the driver offers them, or not at all)."""
    started = time.perf_counter()
    missing = []
    for name, function in viewer_gl_functions().items():
        pointer = _pointer(function)
        if not is_resolved(function) and pointer.load() is None:
            missing.append(name)
    log.debug("OpenGL entry points looked up in %.1f ms", (time.perf_counter() - started) * 1000)
    return missing
