"""The OpenGL viewer rendering known panoramas, read back pixel by pixel (runs under Xvfb + Mesa)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QWheelEvent
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

from dit360_desktop.panorama.projection import (
    discontinuity_score,
    equirect_directions,
    equirect_to_cubemap,
    equirect_to_perspective,
)
from dit360_desktop.ui.common.camera import CameraView, ViewMode, view_rays
from dit360_desktop.ui.common.image_input import qimage_to_rgb
from dit360_desktop.ui.common.viewer_errors import OpenGLUnavailableError, ViewerError
from dit360_desktop.ui.viewer import create_viewer, fallback_viewer
from dit360_desktop.ui.viewer.gl_renderer import PanoramaRenderer
from dit360_desktop.ui.viewer.gl_support import opengl_problem
from dit360_desktop.ui.viewer.gl_widget import PanoramaViewer
from dit360_desktop.ui.viewer.render_settings import BACKGROUND
from dit360_desktop.ui.viewer.sample_panorama import sample_panorama
from dit360_desktop.ui.viewer.unavailable import ViewerUnavailable

pytestmark = pytest.mark.gl

BACKGROUND_RGB = np.rint(np.array(BACKGROUND) * 255).astype(int)


def direction_colours(directions: np.ndarray) -> np.ndarray:
    """The analytic panorama's colour for unit directions: RGB = (d + 1) / 2."""
    return np.clip(np.rint((directions * 0.5 + 0.5) * 255.0), 0, 255)


@pytest.fixture(scope="module")
def analytic() -> np.ndarray:
    """A panorama whose colour is a smooth, seamless, known function of direction."""
    return direction_colours(equirect_directions(512, 256)).astype(np.uint8)


@pytest.fixture
def viewer(qtbot, qapp) -> PanoramaViewer:
    problem = opengl_problem()
    if problem is not None:
        pytest.fail(f"GL tests need OpenGL 3.3 core under Xvfb: {problem}")
    widget = create_viewer()
    assert isinstance(widget, PanoramaViewer)
    qtbot.addWidget(widget)
    widget.set_readout_visible(False)  # frames compared with snapshots carry no overlay
    widget.resize(320, 180)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.waitUntil(lambda: widget.renderer is not None and widget.renderer.initialized, timeout=10_000)
    return widget


def snapshot_array(viewer, width: int, height: int, **kwargs) -> np.ndarray:
    return qimage_to_rgb(viewer.snapshot(width, height, **kwargs))


def grid_points(width: int, height: int) -> list[tuple[int, int]]:
    return [
        (y, x)
        for y in np.linspace(3, height - 4, 6).astype(int)
        for x in np.linspace(3, width - 4, 8).astype(int)
    ]


@pytest.mark.parametrize(
    ("mode", "yaw", "pitch", "fov"),
    [
        (ViewMode.PERSPECTIVE, 0, 0, 90),
        (ViewMode.PERSPECTIVE, 135, -30, 60),
        (ViewMode.PERSPECTIVE, -100, 70, 110),
        (ViewMode.LITTLE_PLANET, 40, -90, 260),
        (ViewMode.LITTLE_PLANET, -150, 20, 150),
        (ViewMode.FLAT, 0, 0, 360),
        (ViewMode.FLAT, 150, 20, 120),
        (ViewMode.SEAM, 180, 0, 60),
    ],
)
def test_every_mode_renders_the_expected_direction_colours(viewer, analytic, mode, yaw, pitch, fov):
    viewer.set_panorama(analytic)
    viewer.camera.set_mode(mode)
    viewer.camera.set_viewport(192, 108)
    viewer.camera.fov = fov  # before the pitch: in flat mode the zoom sets how far it may tilt
    viewer.camera.look_at(yaw, pitch)
    view = viewer.camera.view
    assert (view.yaw, view.pitch, view.fov) == (yaw, pitch, fov)
    image = snapshot_array(viewer, 192, 108).astype(int)
    rays, valid = view_rays(view, 192, 108)
    expected = direction_colours(rays)
    for y, x in grid_points(192, 108):
        if valid[y, x]:
            assert np.abs(image[y, x] - expected[y, x]).max() <= 4, (y, x, image[y, x], expected[y, x])
        else:
            assert np.abs(image[y, x] - BACKGROUND_RGB).max() <= 1


def test_known_directions_land_on_known_pixels(viewer, analytic):
    viewer.set_panorama(analytic)

    def centre(mode, yaw, pitch, fov):
        viewer.camera.set_mode(mode)
        viewer.camera.look_at(yaw, pitch)
        viewer.camera.fov = fov
        return snapshot_array(viewer, 33, 33)[16, 16].astype(int)

    # Colours are (d + 1)/2 for d = (x right, y up, z forward).
    assert np.abs(centre(ViewMode.PERSPECTIVE, 0, 0, 90) - [128, 128, 255]).max() <= 3  # forward
    assert np.abs(centre(ViewMode.PERSPECTIVE, 90, 0, 90) - [255, 128, 128]).max() <= 3  # right
    assert np.abs(centre(ViewMode.PERSPECTIVE, -90, 0, 90) - [0, 128, 128]).max() <= 3  # left
    assert np.abs(centre(ViewMode.PERSPECTIVE, 180, 0, 90) - [128, 128, 0]).max() <= 3  # behind
    assert np.abs(centre(ViewMode.PERSPECTIVE, 0, 90, 90) - [128, 255, 128]).max() <= 3  # zenith
    assert np.abs(centre(ViewMode.LITTLE_PLANET, 0, -90, 260) - [128, 0, 128]).max() <= 3  # nadir
    assert np.abs(centre(ViewMode.FLAT, -90, 0, 360) - [0, 128, 128]).max() <= 3


def test_snapshot_equals_core_perspective_projection(viewer):
    panorama = sample_panorama(1024, 512)
    viewer.set_panorama(panorama)
    viewer.camera.look_at(-35, 8)
    viewer.camera.fov = 75
    ours = snapshot_array(viewer, 320, 200).astype(int)
    reference = equirect_to_perspective(panorama, -35, 8, 75, 320, 200).astype(int)
    difference = np.abs(ours - reference)
    assert difference.mean() < 1.5, difference.mean()
    assert np.percentile(difference, 99) <= 12
    # Another fov than the on-screen one, as the export dialog asks for (kept at or above the
    # panorama's own resolution: when minifying, mipmaps rightly differ from plain bilinear).
    wide = snapshot_array(viewer, 320, 180, fov=100).astype(int)
    assert np.abs(wide - equirect_to_perspective(panorama, -35, 8, 100, 320, 180)).mean() < 1.5
    assert viewer.camera.fov == 75


def test_gpu_cubemap_equals_core_projection(viewer, analytic):
    viewer.set_panorama(analytic)
    viewer.snapshot(8, 8)  # uploads
    viewer.gl_window().makeCurrent()
    try:
        faces = viewer.renderer.read_panorama_faces()
    finally:
        viewer.gl_window().doneCurrent()
    size = viewer.renderer.stats.face_size
    assert size == 163  # ceil(512 / π): keeps the equator's resolution
    reference = equirect_to_cubemap(analytic, size)
    for name, face in faces.items():
        assert np.abs(face.astype(int) - reference[name]).max() <= 3, name


def test_no_seam_line_at_yaw_180(viewer, analytic):
    viewer.set_panorama(analytic)
    viewer.camera.look_at(180, 0)
    # Zoomed out into a small image, so minification (mipmaps) is in play where the classic
    # atan-derivative artefact would draw a one-pixel line of the texture's average colour.
    for fov, size in ((120, (96, 54)), (40, (320, 180))):
        viewer.camera.fov = fov
        image = snapshot_array(viewer, *size).astype(int)
        steps = np.abs(np.diff(image, axis=1)).max(axis=(0, 2))
        centre = size[0] // 2 - 1  # the seam runs between the two middle columns
        assert steps[centre - 2 : centre + 3].max() <= max(3, int(np.percentile(steps, 90)) + 2), steps
        # And it is the right content: the centre column looks straight back (z = -1 → blue 0).
        assert image[size[1] // 2, size[0] // 2, 2] <= 4


def test_seam_mode_shows_a_real_seam_and_brackets_it(viewer, analytic):
    broken = analytic.copy()
    broken[:, :8] = 0  # a hard seam in the panorama itself
    viewer.set_panorama(broken)
    viewer.inspect_seam()
    assert viewer.camera.mode is ViewMode.SEAM and viewer.camera.yaw == 180
    plain = snapshot_array(viewer, 320, 180).astype(int)
    # The viewer shows the seam faithfully: yellow-green just left of it, black just right.
    assert plain[90, 150, :2].min() > 100
    assert plain[90, 175].max() <= 2
    highlighted = snapshot_array(viewer, 320, 180, overlays=True).astype(int)
    changed = np.abs(highlighted - plain).max(axis=(0, 2))
    # Magenta dashes ~9 px either side of the join; the join itself is left untouched.
    assert changed[146:156].max() > 60 and changed[164:174].max() > 60
    assert changed[158:162].max() == 0
    assert discontinuity_score(broken) > 10


def test_grid_overlay_draws_horizon(viewer, analytic):
    viewer.set_panorama(analytic)
    viewer.camera.look_at(0, 0)
    plain = snapshot_array(viewer, 160, 91).astype(int)
    viewer.set_grid_visible(True)
    grid = snapshot_array(viewer, 160, 91, overlays=True).astype(int)
    assert viewer.grid_visible
    # The horizon (pitch 0) is the middle row, drawn in amber.
    assert grid[45, 20, 0] > plain[45, 20, 0] + 40
    assert np.abs(grid[10:35] - plain[10:35]).max(axis=2).mean() < 30  # thin lines, not a wash
    assert np.array_equal(snapshot_array(viewer, 160, 91), plain)  # exports are clean by default


def test_panorama_larger_than_max_texture_size_is_tiled(viewer, analytic, monkeypatch):
    viewer.camera.look_at(30, 20)
    viewer.set_panorama(analytic)
    whole = snapshot_array(viewer, 192, 108).astype(int)
    monkeypatch.setattr(PanoramaRenderer, "texture_size_limit", 128)
    before = viewer.renderer.stats.tiles_uploaded
    viewer.set_panorama(analytic.copy())
    tiled = snapshot_array(viewer, 192, 108).astype(int)
    stats = viewer.renderer.stats
    # 128 px textures with a 16 px border hold 96 px each: ceil(512/96) × ceil(256/96) tiles.
    assert stats.tiles_uploaded - before == 6 * 3
    assert stats.face_size == 128
    assert np.abs(tiled - whole).max() <= 6
    for mode, yaw, pitch in ((ViewMode.FLAT, 180, 0), (ViewMode.LITTLE_PLANET, 0, -90)):
        viewer.camera.set_mode(mode)
        viewer.camera.look_at(yaw, pitch)
        image = snapshot_array(viewer, 96, 54).astype(int)
        rays, valid = view_rays(viewer.camera.view, 96, 54)
        error = np.abs(image - direction_colours(rays)).max(axis=2)[valid]
        assert np.percentile(error, 99) <= 6


def test_preview_reuses_its_texture_and_shows_the_latest_step(viewer, analytic):
    viewer.set_panorama(analytic)
    stats = viewer.renderer.stats
    for value in (40, 80, 120, 160, 200):
        viewer.set_preview(np.full((32, 64, 3), value, dtype=np.uint8))
        assert snapshot_array(viewer, 16, 9)[4, 8].tolist() == [value] * 3
    assert stats.preview_allocations == 1
    assert stats.preview_uploads == 5
    # Several steps between two frames are uploaded once.
    for value in (10, 20, 30):
        viewer.set_preview(np.full((32, 64, 3), value, dtype=np.uint8))
    assert snapshot_array(viewer, 16, 9)[4, 8].tolist() == [30] * 3
    assert stats.preview_uploads == 6
    viewer.set_preview(np.full((64, 128, 3), 90, dtype=np.uint8))  # a new size allocates once more
    assert snapshot_array(viewer, 16, 9)[4, 8].tolist() == [90] * 3
    assert stats.preview_allocations == 2
    viewer.set_panorama(analytic)  # the finished panorama replaces the preview
    assert np.abs(snapshot_array(viewer, 17, 9)[4, 8].astype(int) - [128, 128, 255]).max() <= 3


def test_qimage_input_and_bad_inputs(viewer, analytic):
    height, width = analytic.shape[:2]
    image = QImage(analytic.tobytes(), width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    viewer.set_panorama(image.convertToFormat(QImage.Format.Format_ARGB32))
    assert np.array_equal(viewer.panorama, analytic)
    with pytest.raises(ViewerError, match="RGB"):
        viewer.set_panorama(np.zeros((16, 32), dtype=np.uint8))
    with pytest.raises(ViewerError, match="RGB"):
        viewer.set_preview(np.zeros((16, 32, 3), dtype=np.float32))
    with pytest.raises(ViewerError, match="field of view"):
        viewer.snapshot(64, 64, fov=179.5)


def test_snapshot_before_any_panorama_is_refused(viewer):
    with pytest.raises(ViewerError, match="no panorama"):
        viewer.snapshot(32, 32)


def test_mouse_drag_with_inertia_and_wheel_zoom(viewer, qtbot):
    viewer.set_panorama(np.full((64, 128, 3), 100, dtype=np.uint8))
    start = viewer.camera.yaw
    qtbot.mousePress(viewer, Qt.MouseButton.LeftButton, pos=QPoint(100, 90))
    for x in range(104, 180, 4):
        qtbot.mouseMove(viewer, QPoint(x, 90))
        qtbot.wait(4)
    qtbot.mouseRelease(viewer, Qt.MouseButton.LeftButton, pos=QPoint(180, 90))
    released = viewer.camera.yaw
    assert released < start  # dragging right turns left
    qtbot.wait(150)
    assert viewer.camera.yaw < released  # and it coasts on after release
    qtbot.waitUntil(lambda: not viewer.input.animating, timeout=5000)

    def wheel(delta: int) -> None:
        event = QWheelEvent(
            QPointF(160, 90), QPointF(viewer.mapToGlobal(QPoint(160, 90))), QPoint(0, 0), QPoint(0, delta),
            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
        )  # fmt: skip
        QApplication.sendEvent(viewer, event)

    wheel(120)
    assert viewer.camera.fov == pytest.approx(90 * 0.88)
    for _ in range(40):
        wheel(120)
    assert viewer.camera.fov == 20


def test_input_from_the_window_system_arrives_through_the_gl_window(qtbot, qapp):
    """The window system sends mouse input to the native GL window, not to the widget; it must reach
    the viewer's handlers, give the widget keyboard focus, and leave keys to the widget tree."""
    from PySide6.QtTest import QTest

    host = QWidget()
    qtbot.addWidget(host)
    viewer = PanoramaViewer(host)
    QVBoxLayout(host).addWidget(viewer)
    host.resize(320, 180)
    host.show()
    qtbot.waitExposed(host)
    host.activateWindow()
    qtbot.waitUntil(host.isActiveWindow, timeout=5000)
    qtbot.waitUntil(lambda: viewer.renderer is not None and viewer.renderer.initialized, timeout=10_000)
    viewer.set_panorama(np.full((64, 128, 3), 100, dtype=np.uint8))
    surface = viewer.gl_window()
    assert surface.isExposed() and surface.size() == viewer.size()

    start = viewer.camera.yaw
    no_mod = Qt.KeyboardModifier.NoModifier
    QTest.mousePress(surface, Qt.MouseButton.LeftButton, no_mod, QPoint(100, 90))
    assert viewer.hasFocus()  # a click in the view focuses it, so arrow keys and G work next
    assert surface.cursor().shape() == Qt.CursorShape.ClosedHandCursor
    for x in range(104, 180, 8):
        QTest.mouseMove(surface, QPoint(x, 90))
    QTest.mouseRelease(surface, Qt.MouseButton.LeftButton, no_mod, QPoint(180, 90))
    assert viewer.camera.yaw < start
    assert surface.cursor().shape() == Qt.CursorShape.OpenHandCursor
    viewer.input.inertia.stop()

    event = QWheelEvent(
        QPointF(160, 90), QPointF(viewer.mapToGlobal(QPoint(160, 90))), QPoint(0, 0), QPoint(0, 120),
        Qt.MouseButton.NoButton, no_mod, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(surface, event)
    assert viewer.camera.fov == pytest.approx(90 * 0.88)

    # Keys go to the focused widget through the top-level window, as in the rest of the app.
    with qtbot.waitSignal(viewer.grid_visible_changed):
        QTest.keyClick(host.windowHandle(), Qt.Key.Key_G)
    assert viewer.grid_visible

    # Resting the pointer on the view shows its tooltip (Qt would only do it for widget hover events).
    from PySide6.QtWidgets import QToolTip

    QTest.mouseMove(surface, QPoint(150, 80))
    qtbot.waitUntil(QToolTip.isVisible, timeout=5000)
    assert "Drag to look around" in QToolTip.text()
    QTest.mousePress(surface, Qt.MouseButton.LeftButton, no_mod, QPoint(150, 80))
    assert not QToolTip.isVisible() or QToolTip.text() != viewer.toolTip()
    QTest.mouseRelease(surface, Qt.MouseButton.LeftButton, no_mod, QPoint(150, 80))


def test_gl_window_is_owned_by_qt_and_exit_does_not_crash(tmp_path):
    """PySide would own a parentless QWindow and delete it at exit before the container that embeds
    it, crashing in QApplication's destructor. Exit without any clean-up, as a script may."""
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "exit.py"
    script.write_text(
        textwrap.dedent(
            """
            import time
            import shiboken6
            from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget
            from dit360_desktop.ui.viewer import prepare_application_opengl
            prepare_application_opengl()
            app = QApplication([])
            from dit360_desktop.ui.viewer.gl_widget import PanoramaViewer
            host = QWidget()
            viewer = PanoramaViewer(host)
            QVBoxLayout(host).addWidget(viewer)
            host.resize(200, 100)
            host.show()
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                app.processEvents()
            assert viewer.renderer is not None and viewer.renderer.initialized
            assert not shiboken6.ownedByPython(viewer.gl_window())
            print("shown", flush=True)
            """
        )
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "shown" in done.stdout


def test_keyboard_when_focused(viewer, qtbot):
    viewer.setFocus()
    qtbot.keyClick(viewer, Qt.Key.Key_Plus)
    assert viewer.camera.fov == pytest.approx(90 * 0.85)
    qtbot.keyPress(viewer, Qt.Key.Key_Right)
    qtbot.wait(120)
    qtbot.keyRelease(viewer, Qt.Key.Key_Right)
    assert viewer.camera.yaw > 0
    qtbot.keyClick(viewer, Qt.Key.Key_R)
    assert (viewer.camera.yaw, viewer.camera.fov) == (0, 90)
    qtbot.keyClick(viewer, Qt.Key.Key_3)
    assert viewer.camera.mode is ViewMode.FLAT
    with qtbot.waitSignal(viewer.grid_visible_changed) as grid:
        qtbot.keyClick(viewer, Qt.Key.Key_G)
    assert viewer.grid_visible and grid.args == [True]  # lets the app's toolbar toggle follow
    with qtbot.waitSignal(viewer.auto_rotate_changed) as rotate:
        qtbot.keyClick(viewer, Qt.Key.Key_Space)
    assert viewer.auto_rotate and rotate.args == [True]
    yaw = viewer.camera.yaw
    qtbot.waitUntil(lambda: viewer.camera.yaw != yaw, timeout=2000)
    viewer.set_auto_rotate(False)


def test_escape_reaches_the_window_unless_fullscreen(qtbot, qapp):
    seen: list[int] = []

    class Host(QWidget):
        def keyPressEvent(self, event):
            seen.append(event.key())

    host = Host()
    qtbot.addWidget(host)
    layout = QVBoxLayout(host)
    viewer = PanoramaViewer(host)
    layout.addWidget(viewer)
    host.resize(400, 300)
    host.show()
    qtbot.waitExposed(host)
    qtbot.waitUntil(lambda: viewer.renderer is not None and viewer.renderer.initialized, timeout=10_000)
    viewer.setFocus()
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)
    assert seen == [Qt.Key.Key_Escape]  # Esc cancels a generation in the app

    viewer.set_panorama(np.full((64, 128, 3), 70, dtype=np.uint8))
    qtbot.waitUntil(lambda: viewer.renderer.stats.panorama_uploads == 1, timeout=5000)
    qtbot.keyClick(viewer, Qt.Key.Key_F11)
    qtbot.waitUntil(lambda: viewer.isFullScreen(), timeout=5000)
    assert viewer.isWindow()
    qtbot.waitUntil(lambda: viewer.renderer is not None and viewer.renderer.initialized, timeout=5000)
    assert snapshot_array(viewer, 8, 8)[4, 4].tolist() == [70] * 3
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not viewer.isWindow(), timeout=5000)
    assert viewer.parentWidget() is host and seen == [Qt.Key.Key_Escape]
    qtbot.waitUntil(lambda: viewer.renderer.initialized, timeout=5000)
    assert snapshot_array(viewer, 8, 8)[4, 4].tolist() == [70] * 3  # re-uploaded after the move
    stats = viewer.renderer.stats
    # Qt may keep the context across the move or replace it; if it replaced it, the old objects were
    # freed first and the panorama uploaded again.
    assert stats.panorama_uploads == 1 + stats.releases, stats


def test_shader_failure_emits_gl_failed_and_falls_back(qtbot, qapp, monkeypatch, analytic):
    from dit360_desktop.ui.viewer import gl_renderer

    monkeypatch.setattr(gl_renderer, "load_shader", lambda name: "#version 330 core\nthis is not glsl;\n")
    widget = PanoramaViewer()
    qtbot.addWidget(widget)
    widget.set_panorama(analytic)
    widget.resize(200, 100)
    with qtbot.waitSignal(widget.gl_failed, timeout=10_000) as blocker:
        widget.show()
    message = blocker.args[0]
    assert "shader did not compile" in message
    assert widget.failure == message
    with pytest.raises(OpenGLUnavailableError):
        widget.snapshot(16, 16)
    replacement = fallback_viewer(widget, message)
    assert isinstance(replacement, ViewerUnavailable)
    assert message in replacement.message_label.text()
    assert np.array_equal(replacement.panorama, analytic)


def test_unexpected_setup_error_is_reported_not_swallowed(qtbot, qapp, monkeypatch):
    def broken(self):
        raise AttributeError("glGenVertexArrays entry point missing")

    monkeypatch.setattr(PanoramaRenderer, "initialize", broken)
    widget = PanoramaViewer()
    qtbot.addWidget(widget)
    widget.resize(120, 80)
    with qtbot.waitSignal(widget.gl_failed, timeout=10_000) as blocker:
        widget.show()
    assert "AttributeError" in blocker.args[0] and "entry point missing" in blocker.args[0]


def test_gl_objects_are_freed_with_the_widget(qtbot, qapp, analytic):
    widget = PanoramaViewer()
    widget.resize(160, 90)
    widget.set_panorama(analytic)
    widget.show()
    qtbot.waitUntil(lambda: widget.renderer is not None and widget.renderer.initialized, timeout=10_000)
    widget.snapshot(8, 8)
    renderer = widget.renderer
    assert renderer.stats.releases == 0
    widget.close()
    widget.deleteLater()
    qtbot.waitUntil(lambda: renderer.stats.releases == 1, timeout=5000)
    assert not renderer.initialized


def test_software_rasteriser_renders_half_size_while_moving_then_sharpens(viewer, qtbot, analytic):
    assert viewer.renderer.software  # Mesa llvmpipe under Xvfb
    viewer.set_panorama(analytic)
    viewer.snapshot(8, 8)  # completes the staged upload, so the next frame is drawn within the window
    stats = viewer.renderer.stats

    def moving_frame_drawn() -> bool:
        viewer.camera.rotate(0.5, 0.0)  # keeps the camera moving until the event loop paints a frame
        return stats.last_draw_scale == 0.5

    qtbot.waitUntil(moving_frame_drawn)
    assert viewer.renderer._low_size == (160, 90)
    qtbot.waitUntil(lambda: stats.last_draw_scale == 1.0)  # settles, then repaints at full size
    moved = qimage_to_rgb(viewer.grabFramebuffer().convertToFormat(QImage.Format.Format_RGB888))
    assert np.abs(moved.astype(int) - snapshot_array(viewer, 320, 180)).max() <= 1


def test_camera_changes_are_signalled(viewer, qtbot):
    with qtbot.waitSignal(viewer.camera_changed) as blocker:
        viewer.camera.look_at(12, 3)
    assert isinstance(blocker.args[0], CameraView) and blocker.args[0].yaw == 12


@pytest.mark.slow
def test_full_size_16384_panorama(viewer):
    # Built a band of rows at a time: the float directions of all 134 M pixels would need 3 GB.
    width, height, rows = 16384, 8192, 512
    lon = ((np.arange(width) + 0.5) / width - 0.5) * 2 * np.pi
    panorama = np.empty((height, width, 3), dtype=np.uint8)
    for top in range(0, height, rows):
        lat = ((0.5 - (np.arange(top, top + rows) + 0.5) / height) * np.pi)[:, None]
        band = np.stack(
            np.broadcast_arrays(np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)), -1
        )
        panorama[top : top + rows] = direction_colours(band)
    viewer.set_panorama(panorama)
    viewer.camera.look_at(60, 30)
    image = snapshot_array(viewer, 192, 108).astype(int)
    rays, _ = view_rays(viewer.camera.view, 192, 108)
    assert np.abs(image - direction_colours(rays)).max() <= 4
    assert viewer.renderer.stats.face_size == 4096


def _centre_colour(viewer) -> list[int]:
    """The centre pixel of an on-screen frame, drawn with whatever is uploaded now (no finishing)."""
    surface = viewer.gl_window()
    surface.makeCurrent()
    viewer._paint_gl()
    image = surface.grabFramebuffer()
    return qimage_to_rgb(image.convertToFormat(QImage.Format.Format_RGB888))[
        image.height() // 2, image.width() // 2
    ].tolist()


def test_panorama_upload_is_staged_between_frames(viewer, qtbot):
    """A 2048×1024 upload took ~100 ms in one go on llvmpipe, a UI stall at the end of every
    generation; staged, it runs one tile, face or mipmap pass per event-loop turn while the previous
    picture stays on screen, then swaps in whole."""
    renderer = viewer.renderer
    viewer.set_panorama(np.full((128, 256, 3), 60, dtype=np.uint8))
    qtbot.waitUntil(lambda: not renderer.staging and renderer.stats.panorama_uploads == 1, timeout=5000)
    steps = renderer.stats.staged_steps
    assert _centre_colour(viewer) == [60] * 3

    viewer.set_panorama(np.full((128, 256, 3), 200, dtype=np.uint8))
    assert renderer.staging
    assert _centre_colour(viewer) == [60] * 3  # the old picture until the new one is complete
    qtbot.waitUntil(lambda: not renderer.staging, timeout=5000)
    assert renderer.stats.panorama_uploads == 2
    # At least the tile and each of the six faces in a turn of their own, and the turn that finds the
    # work done (gl_cubemap._conversion_steps); the cubemap's allocation and any turns spent waiting on
    # the driver's fences come on top. An idle llvmpipe finishes every fence at once: 9 turns here.
    assert renderer.stats.staged_steps - steps >= 8
    assert _centre_colour(viewer) == [200] * 3


def test_snapshots_and_previews_during_a_staged_upload(viewer, qtbot):
    renderer = viewer.renderer
    viewer.set_panorama(np.full((128, 256, 3), 60, dtype=np.uint8))
    assert renderer.staging
    # A snapshot (export) shows what was set last: it completes the upload first.
    assert snapshot_array(viewer, 8, 8)[4, 4].tolist() == [60] * 3
    assert not renderer.staging

    viewer.set_panorama(np.full((128, 256, 3), 200, dtype=np.uint8))
    assert renderer.staging
    # A new generation's first preview arrives before the upload finished: the preview wins, and the
    # stale upload is dropped, never swapped in over it.
    viewer.set_preview(np.full((32, 64, 3), 120, dtype=np.uint8))
    assert not renderer.staging
    qtbot.wait(100)
    assert renderer.stats.panorama_uploads == 1
    assert snapshot_array(viewer, 8, 8)[4, 4].tolist() == [120] * 3
