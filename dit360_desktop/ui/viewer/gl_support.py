"""Which OpenGL the viewer asks for, and whether this machine can give it.

The answer decides between the GL viewer and the ``ViewerUnavailable`` message, so the app keeps
running on machines without a usable driver (remote desktops, VMs, headless servers).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import sys

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QGuiApplication, QOffscreenSurface, QOpenGLContext, QSurfaceFormat, QWindow

log = logging.getLogger(__name__)

# Set to 1 to skip OpenGL entirely (broken drivers, remote sessions); the viewer shows a message.
DISABLE_ENV = "DIT360_DISABLE_GL"


def required_gl_version() -> tuple[int, int]:
    # macOS only offers 2.1 legacy or 4.1 core; everywhere else 3.3 core is the oldest we need.
    return (4, 1) if sys.platform == "darwin" else (3, 3)


def viewer_surface_format() -> QSurfaceFormat:
    fmt = QSurfaceFormat()
    fmt.setRenderableType(QSurfaceFormat.RenderableType.OpenGL)
    fmt.setVersion(*required_gl_version())
    fmt.setProfile(QSurfaceFormat.OpenGLContextProfile.CoreProfile)
    fmt.setDepthBufferSize(0)
    fmt.setStencilBufferSize(0)
    fmt.setSwapInterval(1)
    return fmt


def prepare_application_opengl() -> None:
    """Call before constructing QApplication.

    macOS only shares resources between core-profile contexts if the default format is core, and
    shared contexts let the viewer move into its own fullscreen window without losing textures.
    """
    if QCoreApplication.instance() is not None:
        log.warning("prepare_application_opengl() called after QApplication was created; it has no effect")
        return
    QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts, True)
    QSurfaceFormat.setDefaultFormat(viewer_surface_format())


def _pyopengl_platform_hint() -> None:
    # PyOpenGL must load the same window-system binding (GLX or EGL) as Qt; Qt uses EGL on Wayland.
    platform = QGuiApplication.platformName()
    if platform.startswith(("wayland", "eglfs")):
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


def opengl_problem(*, probe: bool = True) -> str | None:
    """None when the viewer can use OpenGL, else a sentence telling the user why it cannot.

    ``probe=False`` leaves out the test context (tens of milliseconds): for a viewer that stays hidden until
    the probe has run (the main window's, which shows "Starting the 360° viewer…" in the first frame).
    """
    if os.environ.get(DISABLE_ENV, "").strip() not in ("", "0"):
        return f"The 3D viewer is turned off ({DISABLE_ENV} is set). Unset it to look around panoramas."
    if QGuiApplication.instance() is None:
        return "The 3D viewer needs a running Qt application."
    return _probe_context() if probe else None


@functools.cache
def _probe_context() -> str | None:
    major, minor = required_gl_version()
    wanted = f"OpenGL {major}.{minor} core profile"
    fix = "Update the graphics driver, or run the app on a machine with a GPU."
    _pyopengl_platform_hint()
    context = QOpenGLContext()
    context.setFormat(viewer_surface_format())
    if not context.create():
        return f"This system cannot create an {wanted} context, which the 3D viewer needs. {fix}"
    got = context.format()
    version = (got.majorVersion(), got.minorVersion())
    if version < (major, minor):
        offered = f"{version[0]}.{version[1]}"
        return f"The graphics driver offers OpenGL {offered}, but the 3D viewer needs {wanted}. {fix}"
    surface = QOffscreenSurface()
    surface.setFormat(got)
    surface.create()
    try:
        if not context.makeCurrent(surface):
            return f"The {wanted} context could not be made current. {fix}"
        context.doneCurrent()
    finally:
        surface.destroy()
    # Imported later, in initializeGL, so creating the window does not wait for PyOpenGL.
    if importlib.util.find_spec("OpenGL") is None:
        return "The 3D viewer needs the PyOpenGL package. Reinstall the application."
    log.info("viewer OpenGL probe: %d.%d %s", version[0], version[1], got.profile().name)
    return None


def window_owner() -> QWindow:
    """A hidden window to create a ``QWindow`` under, for embedding with ``createWindowContainer``.

    The container owns the window it embeds and deletes it, but PySide also keeps ownership of a
    ``QWindow`` created without a parent and deletes it at exit before the container, which then crashes
    in QApplication's destructor. Created as the child of this window, it is owned by Qt from the start;
    the container re-parents it, and this window is never shown. Keep it referenced as long as the
    container lives.
    """
    return QWindow()
