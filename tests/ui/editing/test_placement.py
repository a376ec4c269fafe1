"""Place a photo in 360° with qtbot: the frame follows the pointer, the wheel scales it, previews come from
a background thread, and "Outpaint the rest" queues an edit of the placed canvas."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from dit360_desktop.panorama.placement import Placement, place_photo
from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.editing.placement import PlacementController, PlacementPanel, PlacementTool


def test_tool_moves_the_photo_with_the_pointer_and_scales_it_with_the_wheel():
    tool = PlacementTool(Placement(yaw=0.0, pitch=0.0, fov=60.0), lambda: 0.5)
    seen = []
    tool.placement_changed.connect(seen.append)
    assert tool.press(100, 100)
    tool.move(140, 80)  # right and up
    tool.release()
    assert tool.placement.yaw == pytest.approx(20.0) and tool.placement.pitch == pytest.approx(10.0)
    assert tool.wheel(120.0) and tool.placement.fov < 60.0
    for _ in range(100):
        tool.wheel(-120.0)
    assert tool.placement.fov == 170.0  # clamped to the placement's range
    tool.set_placement(Placement(yaw=190.0, pitch=120.0, roll=5.0, fov=5.0))
    assert (tool.placement.yaw, tool.placement.pitch, tool.placement.fov) == (-170.0, 90.0, 10.0)
    assert len(seen) >= 4


@pytest.fixture
def photo_file(tmp_path):
    rng = np.random.default_rng(3)
    photo = rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
    path = tmp_path / "photo.jpg"
    Image.fromarray(photo).save(path, quality=95)
    return path


@pytest.mark.gl
def test_place_drag_preview_and_outpaint(qtbot, gl_viewer, photo_file, tmp_path):
    form = GenerationForm()
    form.update({"prompt": "a beach", "width": 256, "height": 128, "steps": 2})
    panel = PlacementPanel()
    window, viewer = gl_viewer(panel)
    queued = []
    controller = PlacementController(
        form, panel, lambda: viewer, lambda r: queued.append(r) or len(queued), tmp_path / "t", window
    )
    viewer.camera.look_at(30.0, 10.0)
    assert controller.start(photo_file)
    assert controller.tool.placement == Placement(30.0, 10.0, 0.0, 60.0)  # no EXIF: 60°, where we look
    assert "60" in panel.fov_note.text()
    qtbot.waitUntil(lambda: controller.previews_shown >= 1, timeout=30_000)
    # A quick preview while the frame moves, a sharp one once it stops.
    assert viewer.edit_mask is not None and viewer.edit_mask.shape in ((512, 1024), (1024, 2048))

    width, height = viewer.input.viewport
    qtbot.mousePress(viewer, Qt.MouseButton.LeftButton, pos=QPoint(width // 2, height // 2))
    qtbot.mouseMove(viewer, QPoint(width // 2 + 40, height // 2))
    qtbot.mouseRelease(viewer, Qt.MouseButton.LeftButton, pos=QPoint(width // 2 + 40, height // 2))
    moved = controller.tool.placement
    assert moved.yaw > 30.0 and viewer.camera.yaw == 30.0  # the photo moved, not the view
    assert panel.spins["yaw"].value() == pytest.approx(moved.yaw, abs=0.05)
    event = QWheelEvent(
        QPointF(50, 50), QPointF(50, 50), QPoint(0, 0), QPoint(0, 120),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(viewer, event)
    assert controller.tool.placement.fov < 60.0 and viewer.camera.fov == 90.0
    panel.spins["roll"].setValue(15.0)
    assert controller.tool.placement.roll == 15.0
    qtbot.waitUntil(lambda: controller._preview_op is None and controller._pending is None, timeout=30_000)
    assert viewer.edit_mask.shape == (1024, 2048)

    placement = controller.tool.placement
    assert controller.outpaint() == 1
    request = queued[0]
    assert request.is_edit and request.edit_method == "blend" and request.strength == 1.0
    assert (request.width, request.height) == (256, 128)
    photo = np.asarray(Image.open(photo_file).convert("RGB"))
    expected_canvas, expected_mask = place_photo(
        photo, yaw=placement.yaw, pitch=placement.pitch, roll=placement.roll, fov=placement.fov,
        width=256, height=128, feather=16,
    )  # fmt: skip
    assert np.array_equal(np.asarray(Image.open(request.init_image)), expected_canvas)
    assert np.array_equal(np.asarray(Image.open(request.mask_image)), expected_mask)
    assert not controller.active and viewer.input.tool is None and viewer.edit_mask is None
    assert viewer.panorama.shape == (128, 256, 3)


@pytest.mark.gl
def test_cancelling_a_placement_shows_the_panorama_again(qtbot, gl_viewer, photo_file, tmp_path):
    from PySide6.QtGui import QImage

    from dit360_desktop.ui.common.image_input import qimage_to_rgb

    def frame() -> np.ndarray:
        # A fixed size: the panel showing and hiding changes the on-screen view's width by a pixel.
        return qimage_to_rgb(viewer.snapshot(200, 100).convertToFormat(QImage.Format.Format_RGB888))

    panel = PlacementPanel()
    window, viewer = gl_viewer(panel)
    controller = PlacementController(GenerationForm(), panel, lambda: viewer, lambda r: 1, tmp_path, window)
    viewer.set_panorama(np.random.default_rng(5).integers(0, 256, (256, 512, 3), dtype=np.uint8))
    viewer.camera.look_at(0.0, 0.0)
    before = frame()
    assert controller.start(photo_file)
    qtbot.waitUntil(lambda: controller.previews_shown >= 1, timeout=30_000)
    assert not np.array_equal(frame(), before)  # the placed photo's canvas is shown
    panel.cancel_requested.emit()
    assert not controller.active
    # The canvas preview was drawn over the panorama; cancelling must not leave it on screen.
    assert np.array_equal(frame(), before)


@pytest.mark.gl
def test_unreadable_photo_is_refused_plainly(qtbot, gl_viewer, tmp_path):
    panel = PlacementPanel()
    window, viewer = gl_viewer(panel)
    controller = PlacementController(GenerationForm(), panel, lambda: viewer, lambda r: 1, tmp_path, window)
    errors = []
    controller.error.connect(lambda title, text: errors.append(text))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    assert not controller.start(broken)
    assert errors and "broken.jpg" in errors[-1]
    assert not controller.active and viewer.input.tool is None


@pytest.mark.parametrize(
    "placement",
    [
        Placement(0.0, 0.0, 0.0, 60.0),
        Placement(150.0, 35.0, 20.0, 80.0),
        Placement(-170.0, -60.0, -45.0, 40.0),
    ],
)
def test_frame_outline_is_the_border_of_the_placed_footprint(placement):
    """The drawn frame lies on the border of what place_photo fills, for any yaw, pitch and roll."""
    from dit360_desktop.panorama.placement import photo_rays_to_canvas
    from dit360_desktop.panorama.projection import direction_to_equirect_uv
    from dit360_desktop.ui.editing.photo_frame import corner_directions, frame_directions

    photo_w, photo_h, width = 120, 90, 2048
    col, row, front = photo_rays_to_canvas(placement, photo_w, photo_h, width, width // 2)
    outline = frame_directions(placement, photo_h / photo_w)
    u, v = direction_to_equirect_uv(outline)
    xs = np.minimum((u * width).astype(int), width - 1)
    ys = np.minimum((v * width // 2).astype(int), width // 2 - 1)
    assert front[ys, xs].all()
    # Photo pixel coordinates run from -0.5 to w - 0.5 across the photo: the outline sits on that edge.
    distance_to_edge = np.minimum.reduce(
        [
            np.abs(col[ys, xs] + 0.5),
            np.abs(col[ys, xs] - photo_w + 0.5),
            np.abs(row[ys, xs] + 0.5),
            np.abs(row[ys, xs] - photo_h + 0.5),
        ]
    )
    assert (
        distance_to_edge.max() < 1.0
    )  # within one photo pixel (a canvas pixel is 0.18°, a photo pixel 0.5°+)
    top_left = corner_directions(placement, photo_h / photo_w)[0]
    u, v = direction_to_equirect_uv(top_left)
    x, y = min(int(u * width), width - 1), min(int(v * width // 2), width // 2 - 1)
    assert abs(col[y, x] + 0.5) < 1.0 and abs(row[y, x] + 0.5) < 1.0  # top left is the photo's (0, 0) corner


def test_dragging_a_corner_scales_the_photo_to_the_pointer():
    from dit360_desktop.ui.common.camera import CameraView, ViewMode
    from dit360_desktop.ui.editing.photo_frame import screen_corners

    view = CameraView(0.0, 0.0, 90.0, ViewMode.PERSPECTIVE)
    tool = PlacementTool(
        Placement(0.0, 0.0, 0.0, 40.0),
        lambda: 0.2,
        aspect=0.75,
        view=lambda: view,
        viewport=lambda: (400, 300),
    )
    _, x, y = screen_corners(view, tool.placement, 0.75, 400, 300)[1]  # top right
    assert tool.press(x + 2, y - 2)
    tool.move(x + 60, y - 45)
    tool.release()
    assert tool.placement.fov > 40.0 and tool.placement.yaw == 0.0  # scaled, not moved
    _, x2, y2 = screen_corners(view, tool.placement, 0.75, 400, 300)[1]
    assert abs(x2 - (x + 60)) < 3 and abs(y2 - (y - 45)) < 3  # the corner follows the pointer
    assert tool.press(200, 150)  # inside: moves
    tool.move(220, 150)
    assert tool.placement.yaw == pytest.approx(4.0)
