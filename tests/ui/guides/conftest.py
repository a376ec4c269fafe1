"""The main window with a known panorama on its GL viewer, for the Guides panel's tests."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from dit360_desktop.panorama.projection import equirect_directions
from dit360_desktop.settings import Settings

# The docs' screenshots are rewritten only when asked (DIT360_SCREENSHOTS=1), so a test run leaves the
# checkout clean.
SHOTS = (
    Path(__file__).resolve().parents[3] / "docs" / "screenshots"
    if os.environ.get("DIT360_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "dit360-test-shots"
)


def analytic_panorama(width: int = 256, height: int = 128) -> np.ndarray:
    """A seamless picture whose colour is a smooth function of direction."""
    return np.clip(np.rint((equirect_directions(width, height) * 0.5 + 0.5) * 255.0), 0, 255).astype(np.uint8)


@pytest.fixture
def make_window(qtbot, make_worker):
    """A shown main window on a GL viewer, once its start-up sample is in. Without a ``worker`` its
    generation thread never starts (nothing is generated, and nothing it reports can reach a window
    closed before it); with one, the thread starts as in the app."""
    from dit360_desktop.ui.main_window import MainWindow
    from dit360_desktop.ui.viewer.gl_support import opengl_problem
    from dit360_desktop.ui.viewer.gl_widget import PanoramaViewer

    made = []

    def factory(worker=None, size: tuple[int, int] = (1280, 800)):
        problem = opengl_problem()
        if problem is not None:
            pytest.fail(f"GL tests need OpenGL 3.3 core under Xvfb: {problem}")
        window = MainWindow(Settings(), worker=worker or make_worker(), start_worker=worker is not None)
        window.confirm_stop = lambda: True
        qtbot.addWidget(window)
        window.resize(*size)
        with qtbot.waitSignal(window.first_exposed, timeout=20_000):
            window.show()
        window.activateWindow()
        viewer = window.viewer
        assert isinstance(viewer, PanoramaViewer)
        qtbot.waitUntil(lambda: viewer.renderer is not None and viewer.renderer.initialized, timeout=20_000)
        # The start-up sample arrives on its own; wait for it so it cannot replace a panorama shown later.
        qtbot.waitUntil(lambda: viewer.panorama is not None, timeout=20_000)
        made.append(window)
        return window

    yield factory
    for window in made:
        window.guides.shutdown()
        window.close()
        qtbot.waitUntil(lambda w=window: not w.worker.isRunning(), timeout=60_000)


@pytest.fixture
def window(make_window):
    """The main window showing a 256×128 analytic panorama."""
    window = make_window()
    window.show_panorama(analytic_panorama())
    return window


def drag(qtbot, viewer, points: list[tuple[int, int]]) -> None:
    """A left-button drag through ``points`` on the viewer, as a mouse would."""
    qtbot.mousePress(viewer, Qt.MouseButton.LeftButton, pos=QPoint(*points[0]))
    for x, y in points[1:]:
        qtbot.mouseMove(viewer, QPoint(x, y))
    qtbot.mouseRelease(viewer, Qt.MouseButton.LeftButton, pos=QPoint(*points[-1]))


def pixel_under(array: np.ndarray, view, x: int, y: int, width: int, height: int):
    """The value of equirect ``array`` under screen point (x, y) of the view."""
    from dit360_desktop.panorama.projection import direction_to_equirect_uv
    from dit360_desktop.ui.common.camera import direction_at

    u, v = direction_to_equirect_uv(direction_at(view, x, y, width, height))
    rows, cols = array.shape[:2]
    return array[min(rows - 1, int(v * rows)), int(u * cols) % cols]


def save_shot(window, name: str) -> Path:
    """The window (3D view included) as the docs show it."""
    from dit360_desktop.ui.widgets.window_grab import grab_window

    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    assert grab_window(window).save(str(path))
    return path
