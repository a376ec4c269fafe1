"""The parallax preview as a displaced mesh drawn by the GL viewer (``ui/viewer/gl_mesh.py``): the GLB
writer's own geometry, seen from an eye moved off the centre. At the centre it is the sphere view; a move
changes the pixels; a near box opens a hole (magenta) beside it when the eye moves sideways."""

from __future__ import annotations

import numpy as np
import pytest

from dit360_desktop.panorama.mesh3d import build_mesh
from dit360_desktop.ui.common.image_input import qimage_to_rgb
from dit360_desktop.ui.viewer.gl_mesh import HOLE_COLOUR
from tests.core.depth.synthetic_room import room_panorama

SIZE = (320, 200)


def room_with_box(width: int = 1024, height: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic room (metres) with a yellow box 1.2 m ahead of the centre, 2 m in front of the wall."""
    rgb, distance = room_panorama(width, height)
    rows = slice(height // 2 - height // 12, height // 2 + height // 12)
    columns = slice(width // 2 - width // 36, width // 2 + width // 36)  # ±5° of yaw 0
    rgb, distance = rgb.copy(), distance.copy()
    rgb[rows, columns] = (250, 220, 0)
    distance[rows, columns] = 1.2
    return rgb, distance


def _holes(image: np.ndarray) -> np.ndarray:
    return (image == HOLE_COLOUR).all(axis=-1)


@pytest.fixture
def viewer(qtbot, qapp):
    from dit360_desktop.ui.viewer.gl_widget import PanoramaViewer

    widget = PanoramaViewer()
    qtbot.addWidget(widget)
    widget.resize(*SIZE)
    widget.show()
    qtbot.waitUntil(lambda: widget.renderer is not None and widget.renderer.initialized, timeout=20_000)
    return widget


def _shot(viewer) -> np.ndarray:
    from PySide6.QtGui import QImage

    image = viewer.snapshot(*SIZE).convertToFormat(QImage.Format.Format_RGB888)
    return qimage_to_rgb(image).astype(int)


def _set_mesh(viewer, rgb, distance, stride=2):
    mesh = build_mesh(distance, metric=True, stride=stride)
    layer = viewer.parallax_layer()
    layer.set_mesh(mesh, rgb)
    viewer.request_frame()
    return layer, mesh


def test_at_the_centre_the_mesh_is_the_sphere_view(viewer) -> None:
    rgb, distance = room_panorama(1024, 512)
    viewer.set_panorama(rgb)
    for yaw, pitch in ((0.0, 0.0), (135.0, -20.0), (-90.0, 60.0), (180.0, 0.0)):
        viewer.camera.look_at(yaw, pitch)
        viewer.parallax_layer().set_mesh(None)
        sphere = _shot(viewer)
        layer, _mesh = _set_mesh(viewer, rgb, distance)
        drawn = layer.draws_made
        mesh = _shot(viewer)
        assert layer.draws_made == drawn + 1  # the snapshot was the mesh, not the sphere
        assert not _holes(mesh).any()  # a room without depth edges: no triangle is cut
        difference = np.abs(mesh - sphere)
        # Texture filtering differs (a 2D texture on triangles vs the cubemap per ray): small, not zero.
        assert difference.mean() < 6.0, (yaw, pitch, difference.mean())
        assert np.percentile(difference.max(axis=-1), 95) < 60


def test_moving_the_eye_changes_the_view_and_opens_the_hole_behind_a_near_box(viewer) -> None:
    rgb, distance = room_with_box()
    viewer.set_panorama(rgb)
    viewer.camera.look_at(0.0, 0.0)
    layer, mesh = _set_mesh(viewer, rgb, distance)
    assert mesh.summary.cut_faces > 0  # the box's rim is a depth edge, cut as in the GLB
    centre = _shot(viewer)
    centre_holes = _holes(centre).sum()
    layer.set_eye((0.3, 0.0, 0.0))  # 30 cm to the right
    viewer.request_frame()
    moved = _shot(viewer)
    assert (np.abs(moved - centre).max(axis=-1) > 30).mean() > 0.05
    holes = _holes(moved)
    # At the centre a cut edge is a gap one grid cell wide; from the side it opens to what the centre
    # never saw: the wall behind the box's right edge.
    assert centre_holes > 0 and holes.sum() > 2 * centre_holes
    yellow = np.abs(moved - (250, 220, 0)).max(axis=-1) < 40
    row = SIZE[1] // 2
    right_edge = np.flatnonzero(yellow[row]).max()
    assert holes[row, right_edge + 1 : right_edge + 25].any()
    # Forward: the box grows.
    layer.set_eye((0.0, 0.0, 0.4))
    viewer.request_frame()
    nearer = (np.abs(_shot(viewer) - (250, 220, 0)).max(axis=-1) < 40).sum()
    assert nearer > 1.3 * (np.abs(centre - (250, 220, 0)).max(axis=-1) < 40).sum()


def test_side_by_side_shows_each_eye_on_its_half(viewer) -> None:
    rgb, distance = room_with_box()
    viewer.set_panorama(rgb)
    viewer.camera.look_at(0.0, 0.0)
    layer, _mesh = _set_mesh(viewer, rgb, distance)
    layer.set_stereo(0.2)
    viewer.request_frame()
    pair = _shot(viewer)
    half = SIZE[0] // 2
    left, right = pair[:, :half], pair[:, half : 2 * half]
    yellow_left = np.flatnonzero((np.abs(left - (250, 220, 0)).max(axis=-1) < 40)[SIZE[1] // 2])
    yellow_right = np.flatnonzero((np.abs(right - (250, 220, 0)).max(axis=-1) < 40)[SIZE[1] // 2])
    # The near box sits right of centre for the left eye and left of centre for the right eye.
    assert yellow_left.mean() > half / 2 > yellow_right.mean()
    layer.set_stereo(None)
    viewer.request_frame()
    single = _shot(viewer)
    yellow = np.flatnonzero((np.abs(single - (250, 220, 0)).max(axis=-1) < 40)[SIZE[1] // 2])
    assert abs(yellow.mean() - SIZE[0] / 2) < 3


def test_other_projections_and_no_mesh_draw_the_sphere(viewer) -> None:
    rgb, distance = room_with_box(512, 256)
    viewer.set_panorama(rgb)
    layer, _mesh = _set_mesh(viewer, rgb, distance)
    viewer.set_mode("flat")
    drawn = layer.draws_made
    _shot(viewer)
    assert layer.draws_made == drawn
    viewer.set_mode("perspective")
    _shot(viewer)
    assert layer.draws_made == drawn + 1
    layer.set_mesh(None)
    _shot(viewer)
    assert layer.draws_made == drawn + 1
