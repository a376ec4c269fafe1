"""Screen-space overlays: the forward projection they rely on, the grid labels, the readout, the drop zone."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtGui import QImage

from dit360_desktop.ui.common.camera import CameraView, ViewMode, view_rays
from dit360_desktop.ui.common.image_input import qimage_to_rgb
from dit360_desktop.ui.common.screen import grid_labels, project
from dit360_desktop.ui.viewer.overlays import readout_text

VIEWS = [
    CameraView(0, 0, 90, ViewMode.PERSPECTIVE),
    CameraView(135, -30, 60, ViewMode.PERSPECTIVE),
    CameraView(40, -90, 260, ViewMode.LITTLE_PLANET),
    CameraView(-150, 20, 150, ViewMode.LITTLE_PLANET),
    CameraView(150, 20, 120, ViewMode.FLAT),
    CameraView(0, 0, 360, ViewMode.FLAT),
]


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: f"{v.mode.value}-{v.yaw}")
def test_project_is_the_inverse_of_view_rays(view):
    width, height = 48, 30
    rays, valid = view_rays(view, width, height)
    lon = np.arctan2(rays[..., 0], rays[..., 2])
    lat = np.arcsin(np.clip(rays[..., 1], -1.0, 1.0))
    x, y, shown = project(view, lon, lat, width, height)
    columns, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    assert shown[valid].all()
    assert np.abs(x - columns)[valid].max() < 1e-6
    assert np.abs(y - rows)[valid].max() < 1e-6


def test_directions_behind_a_perspective_camera_are_not_shown():
    view = CameraView(0, 0, 90, ViewMode.PERSPECTIVE)
    _x, _y, shown = project(view, np.radians([0.0, 180.0, 44.0, 46.0]), np.zeros(4), 800, 400)
    assert shown.tolist() == [True, False, True, False]


def test_grid_labels_sit_on_the_grid_lines():
    labels = {
        label.text: label for label in grid_labels(CameraView(0, 0, 90, ViewMode.PERSPECTIVE), 800, 400)
    }
    # Yaw labels on the horizon (the middle row), pitch labels up the centre column.
    assert (labels["0°"].x, labels["0°"].y) == pytest.approx((400, 200))
    assert labels["30°"].x == pytest.approx(400 + 400 * math.tan(math.radians(30)))
    assert labels["30°"].y == pytest.approx(200)
    assert labels["−30°"].x == pytest.approx(400 - 400 * math.tan(math.radians(30)))
    assert labels["+15°"].x == pytest.approx(400)
    assert labels["+15°"].y == pytest.approx(200 - 400 * math.tan(math.radians(15)))
    assert labels["−15°"].y == pytest.approx(200 + 400 * math.tan(math.radians(15)))
    # Lines outside the 90° view have no label; 60° is beyond the 14 px margin.
    assert "60°" not in labels and "180°" not in labels and "+30°" not in labels


def test_flat_labels_cover_the_whole_turn():
    texts = {label.text for label in grid_labels(CameraView(0, 0, 360, ViewMode.FLAT), 1024, 512)}
    assert {"−150°", "−90°", "0°", "90°", "150°", "+45°", "−75°"} <= texts


def test_readout_text():
    view = CameraView(-30.4, 5.2, 89.6, ViewMode.PERSPECTIVE)
    assert readout_text(view, None) == "Yaw −30°   Pitch +5°   FOV 90°"
    assert readout_text(view, 1.0).endswith("1:1")
    assert readout_text(view, 0.5).endswith("50 %")


# ---- on screen (OpenGL under Xvfb) ----------------------------------------------------------------


@pytest.fixture
def shown_viewer(qtbot):
    from dit360_desktop.ui.viewer import create_viewer
    from dit360_desktop.ui.viewer.gl_widget import PanoramaViewer

    widget = create_viewer()
    assert isinstance(widget, PanoramaViewer)
    qtbot.addWidget(widget)
    widget.resize(400, 200)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.waitUntil(lambda: widget.renderer is not None and widget.renderer.initialized, timeout=10_000)
    widget.set_panorama(np.full((128, 256, 3), 90, dtype=np.uint8))
    return widget


def _frame(viewer) -> np.ndarray:
    return qimage_to_rgb(viewer.grabFramebuffer().convertToFormat(QImage.Format.Format_RGB888)).astype(int)


@pytest.mark.gl
def test_readout_labels_and_drop_zone_are_drawn_over_the_view(shown_viewer):
    viewer = shown_viewer
    viewer.set_readout_visible(False)
    plain = _frame(viewer)
    assert np.abs(plain - 90).max() <= 1  # a uniform panorama gives a uniform view

    viewer.set_readout_visible(True)
    with_readout = _frame(viewer)
    changed = np.abs(with_readout - plain).max(axis=2) > 30
    rows, columns = np.nonzero(changed)
    # A small box in the bottom-left corner, nothing elsewhere.
    assert changed.any() and rows.min() > 150 and columns.max() < 300
    viewer.set_readout_visible(False)

    viewer.set_grid_visible(True)
    grid = _frame(viewer)
    viewer.set_grid_visible(False)
    labels = grid_labels(viewer.camera.view, 400, 200)
    assert labels
    for label in labels:
        # Each label's dark box sits just above (yaw) or beside (pitch) its grid point.
        x = round(label.x) + (18 if label.kind == "parallel" else 0)
        y = round(label.y) - (10 if label.kind == "meridian" else 0)
        patch = grid[y - 3 : y + 4, x - 3 : x + 4]
        assert (np.abs(patch - plain[y - 3 : y + 4, x - 3 : x + 4]).max(axis=2) > 25).any(), label.text

    viewer.set_drop_highlight(True)
    assert viewer.drop_highlighted
    highlighted = _frame(viewer)
    viewer.set_drop_highlight(False)
    # Tinted towards the accent blue inside, the dashed frame near the edge.
    assert highlighted[100, 60, 2] > plain[100, 60, 2] + 8
    assert highlighted[100, 60, 0] < plain[100, 60, 0]
    assert np.array_equal(_frame(viewer), plain)


def test_the_flat_readout_never_claims_more_than_360_degrees():
    """#21 item 10: a fitted flat view in a wide viewer read "FOV 561°" (its span with the empty margins)."""
    from dit360_desktop.ui.common.camera import PanoramaCamera

    camera = PanoramaCamera(ViewMode.FLAT)
    camera.set_viewport(1240, 400)
    camera.reset()
    assert camera.fov > 360.0  # the span across the screen, margins included
    assert "FOV 360°" in readout_text(camera.view, None)
    camera.zoom(0.5)
    assert f"FOV {round(camera.fov)}°" in readout_text(camera.view, None)
