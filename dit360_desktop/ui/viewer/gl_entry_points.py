"""Resolve every OpenGL entry point the viewer calls, once, while it sets up.

PyOpenGL looks most GL functions up at their first call (``dlsym``, ``glXGetProcAddress``), and those
wait on the C library's loader lock, which a thread loading a shared library holds until it is done.
The generation thread loads torch's libraries for a quarter of a second (core/native_libraries.py);
the viewer's first ``glUniform3f``, on the UI thread while it held the GIL, waited for it: a 1.25 s
freeze right after start-up (issue 21, item 12). Looked up during the viewer's set-up instead, no later
GL call on any thread (the upload thread's included) waits on the loader.

The names come from the viewer modules' loaded functions (their code's ``co_names``), so a GL call added
later is covered without a list of functions to keep, in a frozen bundle too (no source is read). GL
calls at a module's top level are not seen; the viewer makes none (a test checks).
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Iterator
from types import CodeType, FunctionType

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


def _functions(namespace: dict) -> Iterator[CodeType]:
    """The code of the functions and methods defined in a module's or a class's namespace."""
    for value in namespace.values():
        if isinstance(value, staticmethod | classmethod):
            value = value.__func__
        if isinstance(value, property):
            yield from (f.__code__ for f in (value.fget, value.fset, value.fdel) if f is not None)
        elif isinstance(value, FunctionType):
            yield value.__code__
        elif isinstance(value, type) and value.__module__ == namespace.get("__module__", value.__module__):
            yield from _functions(vars(value))


def gl_names(module_name: str) -> set[str]:
    """The ``gl…`` names the functions and methods of a module refer to (attributes of ``GL`` among
    them), read from the loaded code objects: no file is read."""
    module = importlib.import_module(module_name)
    namespace = {**vars(module), "__module__": module_name}
    return {
        name
        for code in _functions(namespace)
        for c in _code_objects(code)
        for name in c.co_names
        if name.startswith("gl")
    }


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
