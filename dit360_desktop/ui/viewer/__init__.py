"""The 360° panorama viewer.

``create_viewer()`` returns a ``PanoramaViewer`` (OpenGL) when this machine offers OpenGL 3.3 core
(4.1 core on macOS), else a ``ViewerUnavailable`` that explains why. Both have the same methods:
``set_panorama``, ``set_preview``, ``camera``, ``snapshot``, ``set_grid_visible``, ``set_auto_rotate``,
``inspect_seam``, ``set_mode``, ``toggle_fullscreen`` and the ``gl_failed`` / ``camera_changed`` signals.
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from dit360_desktop.ui.common.camera import CameraView, PanoramaCamera, ViewMode
from dit360_desktop.ui.common.viewer_errors import OpenGLUnavailableError, ViewerError
from dit360_desktop.ui.viewer.gl_support import DISABLE_ENV, opengl_problem, prepare_application_opengl
from dit360_desktop.ui.viewer.input import SHORTCUTS, Shortcut
from dit360_desktop.ui.viewer.unavailable import ViewerUnavailable

__all__ = [
    "DISABLE_ENV",
    "SHORTCUTS",
    "CameraView",
    "OpenGLUnavailableError",
    "PanoramaCamera",
    "Shortcut",
    "ViewMode",
    "ViewerError",
    "ViewerUnavailable",
    "create_viewer",
    "fallback_viewer",
    "prepare_application_opengl",
]


def create_viewer(parent: QWidget | None = None, *, probe: bool = True) -> QWidget:
    """The OpenGL viewer if it can run here, else a widget that says why it cannot.

    ``probe=False``: the OpenGL probe is left to the caller (``opengl_problem()``) before it shows the viewer.
    """
    problem = opengl_problem(probe=probe)
    if problem is not None:
        return ViewerUnavailable(problem, parent)
    from dit360_desktop.ui.viewer.gl_widget import PanoramaViewer

    return PanoramaViewer(parent)


def fallback_viewer(failed: QWidget, message: str) -> ViewerUnavailable:
    """A ViewerUnavailable carrying over the panorama and camera of a viewer whose GL just failed.

    Connect ``viewer.gl_failed`` to a slot that calls this and swaps the widgets in the layout.
    """
    replacement = ViewerUnavailable(message, failed.parentWidget())
    view = failed.camera.view
    replacement.camera.set_mode(view.mode)
    replacement.camera.look_at(view.yaw, view.pitch)
    replacement.camera.fov = view.fov
    if failed.panorama is not None:
        replacement.set_panorama(failed.panorama)
    return replacement
