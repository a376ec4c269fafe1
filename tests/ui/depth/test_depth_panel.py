"""Depth & 3D in the main window: offered in the Generate menu and in the gallery's context menu (through
the history hub), the depth estimated on the worker, shown on the sphere in false colour (and back), and
every export written from the same panel with its folder remembered and overwrites asked."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.models.depth import installed_depth_model as REAL_INSTALLED_DEPTH_MODEL
from dit360_desktop.panorama.depthmap import read_distance, save_distance_exr
from dit360_desktop.settings import Settings
from dit360_desktop.ui.depth.false_colour import false_colour

# The docs' screenshots are rewritten only when asked (DIT360_SCREENSHOTS=1); a plain test run writes its
# grabs to a scratch folder, so running the tests leaves the checkout clean.
SHOTS = (
    Path(__file__).resolve().parents[3] / "docs" / "screenshots"
    if os.environ.get("DIT360_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "dit360-test-shots"
)


@pytest.fixture
def window(qtbot, depth_worker, room_entry, tiny_depth_dir, monkeypatch):
    from dit360_desktop.models import depth as depth_models
    from dit360_desktop.ui.main_window import MainWindow

    monkeypatch.setattr(depth_models, "installed_depth_model", lambda *a: tiny_depth_dir)
    folder, _entry = room_entry
    window = MainWindow(Settings(), worker=depth_worker, library_dir_override=folder, start_worker=False)
    window.confirm_stop = lambda: True
    qtbot.addWidget(window)
    window.resize(1280, 800)
    with qtbot.waitSignal(window.first_exposed, timeout=20_000):
        window.show()
    qtbot.waitUntil(lambda: window.gallery is not None and window.depth is not None, timeout=30_000)
    yield window
    window.close()


def _estimate(qtbot, window, source) -> None:
    assert window.gallery.select_entry(source.id)
    menu = window.gallery.context_menu(on_entry=True)
    entry_action = next(a for a in menu.actions() if a.objectName() == "act_depth_3d_entry")
    entry_action.trigger()
    panel = window.depth.panel
    assert panel.isVisible() and panel.target.image == source.path and panel.target.depth is None
    assert not panel.export_buttons["glb"].isEnabled()
    panel.estimate_button.click()
    qtbot.waitUntil(lambda: panel.target.depth is not None, timeout=120_000)


def test_depth_from_the_gallery_is_shown_in_false_colour_and_back(qtbot, window, room_entry) -> None:
    _folder, source = room_entry
    assert window.depth.action in window.menus.generate.actions()
    _estimate(qtbot, window, source)
    panel = window.depth.panel
    distance = read_distance(panel.target.depth)
    # The result is an entry linked to the source, and the panel finds the map from either entry.
    entry = window.last_finished.entry
    assert entry.parent_id == source.id and window.gallery.select_entry(entry.id)
    rgb = np.asarray(Image.open(source.path).convert("RGB"))
    window.show_panorama(rgb)
    before = _frame(qtbot, window)
    panel.show_depth.setChecked(True)
    qtbot.waitUntil(lambda: window.depth._shown_rgb is not None, timeout=20_000)
    shown = window.viewer.panorama
    assert np.array_equal(shown, false_colour(distance))
    near = np.unravel_index(distance.argmin(), distance.shape)
    far = np.unravel_index(distance.argmax(), distance.shape)
    assert shown[near][0] > shown[near][2] and shown[far][2] > shown[far][0]  # near red, far blue
    # What the viewer draws changes with the texture, and comes back when the toggle is off.
    coloured = _frame(qtbot, window)
    assert np.abs(coloured - before).mean() > 20
    _save_screenshot(window, panel)
    # The red/cyan preview takes the false colour's place (one at a time); with no eye distance it is the
    # panorama itself.
    panel.ipd.setValue(0.0)
    panel.show_anaglyph.setChecked(True)
    assert not panel.show_depth.isChecked()
    qtbot.waitUntil(lambda: np.array_equal(window.viewer.panorama, rgb), timeout=20_000)
    assert window.depth._shown_rgb is rgb or np.array_equal(window.depth._shown_rgb, rgb)
    panel.show_depth.setChecked(True)
    assert not panel.show_anaglyph.isChecked()
    qtbot.waitUntil(lambda: np.array_equal(window.viewer.panorama, false_colour(distance)), timeout=20_000)
    panel.show_depth.setChecked(False)
    assert np.array_equal(window.viewer.panorama, rgb)
    assert np.abs(_frame(qtbot, window) - before).mean() < 1


def _frame(qtbot, window) -> np.ndarray:
    from PySide6.QtGui import QImage

    from dit360_desktop.ui.common.image_input import qimage_to_rgb

    qtbot.wait(100)
    image = window.viewer.grabFramebuffer().convertToFormat(QImage.Format.Format_RGB888)
    return qimage_to_rgb(image).astype(int)


def _save_screenshot(window, panel) -> None:
    """The window (3D view included) with the panel beside it (docs/depth-3d.md, "In the app")."""
    from PySide6.QtGui import QPainter, QPixmap

    from dit360_desktop.ui.widgets.window_grab import grab_window

    main, side = grab_window(window), panel.grab()
    shot = QPixmap(main.width() + side.width(), max(main.height(), side.height()))
    shot.fill(window.palette().window().color())
    painter = QPainter(shot)
    painter.drawPixmap(0, 0, main)
    painter.drawPixmap(main.width(), 0, side)
    painter.end()
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert shot.save(str(SHOTS / "depth-panel.png"))


def test_every_export_from_the_panel(qtbot, window, room_entry, tmp_path) -> None:
    _folder, source = room_entry
    _estimate(qtbot, window, source)
    panel, feature = window.depth.panel, window.depth
    out = tmp_path / "out"
    out.mkdir()
    asked: list[Path] = []
    panel.ask_path = lambda title, default, file_filter: str(out / f"scene-{default.name.split('-')[-1]}")
    panel.confirm_overwrite = lambda path: asked.append(path) or False
    panel.stride.setValue(1)
    panel.ipd.setValue(0.0)  # both eyes are the panorama (the random-weight depth has no metric scale)
    for key in ("depth-exr", "depth-png", "glb", "points", "splats", "stereo"):
        panel.export_buttons[key].click()
        assert feature.wait(60)
        qtbot.waitUntil(lambda: not panel.progress.isVisible(), timeout=20_000)
    assert window.settings.last_folders["depth-3d"] == str(out)
    distance = read_distance(panel.target.depth)
    assert np.array_equal(read_distance(out / "scene-exr.exr"), distance)
    png = Image.open(out / "scene-png.png")
    assert png.mode.startswith("I") and png.size == (128, 64) and "dit360-depth" in png.info
    glb = (out / "scene-glb.glb").read_bytes()
    assert glb[:4] == b"glTF" and struct.unpack("<I", glb[8:12])[0] == len(glb)
    points = (out / "scene-points.ply").read_bytes()
    assert b"element vertex 8192\n" in points[:300]  # one point per pixel at stride 1
    splats = (out / "scene-splats.ply").read_bytes()
    assert b"element vertex 8192\n" in splats[:400] and b"property float f_dc_0" in splats[:400]
    stereo = Image.open(out / "scene-stereo.png")
    assert stereo.size == (128, 128) and stereo.mode == "RGBA"
    assert json.loads(stereo.info["dit360"])["stereo"]["left_eye"] == "top"
    rgb = np.asarray(Image.open(source.path).convert("RGB"))
    pair = np.asarray(stereo)
    assert np.array_equal(pair[:64, :, :3], rgb) and np.array_equal(pair[64:, :, :3], rgb)
    # An eye distance the depth cannot hold is a sentence, and no file. The random-weight depth's spread is
    # whatever the model gives, so a surface at 1/100 of the median (3 cm in the 3 m scene) makes sure one
    # lies inside the 0.5 m circle of a 1 m eye distance.
    near = distance.copy()
    near[32, 64] = float(np.median(distance)) / 100.0
    save_distance_exr(near, panel.target.depth)
    panel.ipd.setValue(1.0)
    asked_before = len(asked)
    panel.ask_path = lambda title, default, file_filter: str(out / "too-wide.png")
    panel.export_buttons["stereo"].click()
    feature.wait(60)
    qtbot.waitUntil(lambda: window.last_error_dialog is not None, timeout=20_000)
    assert "inside the eyes' circle" in window.last_error_dialog.report.message
    window.last_error_dialog.close()
    assert not (out / "too-wide.png").exists() and len(asked) == asked_before
    panel.ask_path = lambda title, default, file_filter: str(out / f"scene-{default.name.split('-')[-1]}")
    # An existing file is replaced only when the person says so.
    before = (out / "scene-glb.glb").stat().st_mtime_ns
    panel.export_buttons["glb"].click()
    assert asked == [out / "scene-glb.glb"] and feature.wait(5)
    assert (out / "scene-glb.glb").stat().st_mtime_ns == before
    panel.confirm_overwrite = lambda path: True
    panel.stride.setValue(4)
    panel.export_buttons["glb"].click()
    assert feature.wait(60)
    qtbot.waitUntil(lambda: not panel.progress.isVisible(), timeout=20_000)
    assert (out / "scene-glb.glb").read_bytes() != glb


def test_stereo_from_the_panel_becomes_an_entry_of_the_source(qtbot, window, room_entry) -> None:
    _folder, source = room_entry
    _estimate(qtbot, window, source)
    panel = window.depth.panel
    assert panel.stereo_button.isEnabled()
    panel.fill.setChecked(False)
    panel.ipd.setValue(0.0)
    panel.stereo_button.click()
    qtbot.waitUntil(lambda: "stereo" in window.last_finished.metadata, timeout=60_000)
    entry = window.last_finished.entry
    assert entry.parent_id == source.id and (entry.width, entry.height) == (128, 128)
    rgb = np.asarray(Image.open(source.path).convert("RGB"))
    assert np.array_equal(np.asarray(Image.open(entry.path).convert("RGB"))[64:], rgb)


def test_red_cyan_preview_of_a_room_on_the_sphere(qtbot, window, tmp_path) -> None:
    """The synthetic room with its true distance in metres: the preview's red and cyan separate at the
    depth edges, and the viewer draws it (docs/screenshots/depth-anaglyph.png)."""
    from dit360_desktop.panorama.depthmap import save_distance_exr
    from dit360_desktop.ui.depth.panel import DepthTarget
    from tests.core.depth.synthetic_room import room_panorama

    rgb, distance = room_panorama(1024, 512)
    Image.fromarray(rgb).save(tmp_path / "room.png")
    save_distance_exr(distance, tmp_path / "room.exr")
    window.show_panorama(rgb)
    before = _frame(qtbot, window)
    panel = window.depth.panel
    panel.set_target(DepthTarget(tmp_path / "room.png", tmp_path / "room.exr", metric=True))
    panel.show()
    panel.ipd.setValue(0.064)
    panel.show_anaglyph.setChecked(True)
    qtbot.waitUntil(lambda: window.depth._shown_rgb is not None, timeout=30_000)
    shown = window.viewer.panorama.astype(int)
    # The eyes see the checker's edges in different places: fringes where red and cyan disagree.
    fringes = np.abs(shown - rgb).max(axis=-1) > 40
    assert 0.01 < fringes.mean() < 0.5
    assert (np.abs(_frame(qtbot, window) - before).max(axis=-1) > 40).mean() > 0.005
    from dit360_desktop.ui.widgets.window_grab import grab_window

    SHOTS.mkdir(parents=True, exist_ok=True)
    assert grab_window(window.viewer).save(str(SHOTS / "depth-anaglyph.png"))


def _room_target(tmp_path, width=1024, height=512):
    from dit360_desktop.ui.depth.panel import DepthTarget
    from tests.ui.depth.test_parallax_mesh import room_with_box

    rgb, distance = room_with_box(width, height)
    Image.fromarray(rgb).save(tmp_path / "room.png")
    save_distance_exr(distance, tmp_path / "room.exr")
    return rgb, distance, DepthTarget(tmp_path / "room.png", tmp_path / "room.exr", metric=True)


def _magenta(frame: np.ndarray) -> int:
    return int((frame == (255, 0, 255)).all(axis=-1).sum())


def test_parallax_preview_draws_the_mesh_and_the_keys_move_the_eye(qtbot, window, tmp_path) -> None:
    """The GLB's mesh in the GL viewer: W A S D / arrows on the 3D view move the eye (clamped at 0.5 m),
    a drag still looks around, and moving sideways past the near box opens a hole beside it."""
    from PySide6.QtCore import QPoint, Qt

    from dit360_desktop.ui.common.camera import ViewMode

    rgb, _distance, target = _room_target(tmp_path)
    window.show_panorama(rgb)
    viewer = window.viewer
    viewer.set_mode(ViewMode.PERSPECTIVE)
    viewer.camera.look_at(0.0, 0.0)
    qtbot.waitUntil(lambda: viewer.renderer is not None and viewer.renderer.has_image, timeout=20_000)
    sphere = _frame(qtbot, window)
    panel, feature = window.depth.panel, window.depth
    panel.set_target(target)
    panel.show()
    panel.stride.setValue(2)
    panel.show_parallax.setChecked(True)
    qtbot.waitUntil(lambda: feature._mesh_key is not None, timeout=60_000)
    layer = viewer.parallax_layer()
    assert layer.active and np.array_equal(viewer.panorama, rgb)  # the texture stays the panorama
    drawn = layer.draws_made
    centre = _frame(qtbot, window)
    assert layer.draws_made > drawn  # the frame is the mesh's
    assert np.abs(centre - sphere).mean() < 8  # at the centre: the sphere view, but for the cut edges' gaps
    assert "at most 0.5 m from the centre" in panel.eye_label.text()
    # The keys go to the 3D view (focus there), not the panel; the camera does not turn with them.
    viewer.setFocus()
    yaw = viewer.camera.view.yaw
    for _ in range(12):  # 12 × 5 cm to the right, stopped at 0.5 m
        qtbot.keyClick(viewer, Qt.Key.Key_D)
    assert viewer.camera.view.yaw == yaw
    assert np.allclose(feature.eye, [0.5, 0.0, 0.0]) and layer.eye == tuple(feature.eye)
    moved = _frame(qtbot, window)
    assert (np.abs(moved - centre).max(axis=-1) > 30).mean() > 0.05
    assert _magenta(moved) > 2 * _magenta(centre) > 0  # the hole beside the near box opens
    _save_parallax_screenshot(window, panel, "depth-parallax.png")
    qtbot.keyClick(viewer, Qt.Key.Key_Up)
    assert np.linalg.norm(feature.eye) <= 0.5 + 1e-9 and feature.eye[2] > 0
    qtbot.keyClick(viewer, Qt.Key.Key_0)
    assert not feature.eye.any() and layer.eye == (0.0, 0.0, 0.0)
    # Mouse look: a drag turns the camera while the mesh is still drawn.
    centre_point = QPoint(viewer.width() // 2, viewer.height() // 2)
    qtbot.mousePress(viewer, Qt.MouseButton.LeftButton, pos=centre_point)
    for step in range(1, 6):
        qtbot.mouseMove(viewer, centre_point + QPoint(-20 * step, 0))
    qtbot.mouseRelease(viewer, Qt.MouseButton.LeftButton, pos=centre_point + QPoint(-100, 0))
    qtbot.waitUntil(lambda: abs(viewer.camera.view.yaw - yaw) > 5, timeout=5_000)
    drawn = layer.draws_made
    _frame(qtbot, window)
    assert layer.draws_made > drawn
    # Off: the sphere again, and the keys turn the camera again.
    panel.show_parallax.setChecked(False)
    assert not layer.active
    viewer.input.inertia.stop()  # the drag's fling
    viewer.camera.look_at(0.0, 0.0)
    assert np.abs(_frame(qtbot, window) - sphere).mean() < 1


def test_another_picture_in_the_viewer_ends_the_mesh_preview(qtbot, window, room_entry, tmp_path) -> None:
    """Selecting another history entry shows its picture: the mesh (with its own texture) must not stay
    drawn over it."""
    _folder, source = room_entry
    rgb, _distance, target = _room_target(tmp_path, 512, 256)
    window.show_panorama(rgb)
    panel, feature = window.depth.panel, window.depth
    panel.set_target(target)
    panel.show()
    panel.show_side_by_side.setChecked(True)
    qtbot.waitUntil(lambda: feature._mesh_key is not None, timeout=60_000)
    layer = window.viewer.parallax_layer()
    assert layer.active
    assert window.gallery.select_entry(source.id)
    qtbot.waitUntil(lambda: not layer.active, timeout=10_000)
    assert not panel.show_side_by_side.isChecked() and feature._filtered is None
    assert layer.stereo_ipd is None


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="needs xdotool for real X11 input")
def test_real_x11_keys_move_the_eye_and_a_real_drag_looks_around(qtbot, window, tmp_path) -> None:
    """The same through the X server: key taps and a mouse drag sent by xdotool reach the GL window."""
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from dit360_desktop.ui.common.camera import ViewMode

    if QGuiApplication.platformName() != "xcb":
        pytest.skip("real input needs an X server (runs under Xvfb)")

    def xdotool(*args: object) -> None:
        subprocess.run(["xdotool", *map(str, args)], check=True, timeout=10)

    rgb, _distance, target = _room_target(tmp_path)
    window.show_panorama(rgb)
    viewer = window.viewer
    viewer.set_mode(ViewMode.PERSPECTIVE)
    viewer.camera.look_at(0.0, 0.0)
    panel, feature = window.depth.panel, window.depth
    panel.set_target(target)
    panel.show()
    panel.show_parallax.setChecked(True)
    qtbot.waitUntil(lambda: feature._mesh_key is not None, timeout=60_000)
    window.activateWindow()
    window.raise_()
    viewer.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is viewer, timeout=5_000)
    before = _frame(qtbot, window)
    for _ in range(4):
        xdotool("key", "d")
    qtbot.waitUntil(lambda: np.allclose(feature.eye, [0.2, 0.0, 0.0]), timeout=5_000)
    xdotool("key", "Up")
    qtbot.waitUntil(lambda: np.allclose(feature.eye, [0.2, 0.0, 0.05]), timeout=5_000)
    assert viewer.camera.view.yaw == 0.0  # the keys moved the eye, not the camera
    assert (np.abs(_frame(qtbot, window) - before).max(axis=-1) > 30).mean() > 0.02
    centre = viewer.mapToGlobal(viewer.rect().center())
    xdotool("mousemove", centre.x(), centre.y())
    xdotool("mousedown", 1)
    for step in range(1, 8):
        xdotool("mousemove", centre.x() - 15 * step, centre.y())
        qtbot.wait(20)
    xdotool("mouseup", 1)
    qtbot.waitUntil(lambda: abs(viewer.camera.view.yaw) > 5, timeout=5_000)
    assert np.allclose(feature.eye, [0.2, 0.0, 0.05])  # looking around keeps the eye where it is
    viewer.input.inertia.stop()


def test_side_by_side_preview_next_to_red_cyan(qtbot, window, tmp_path) -> None:
    from PySide6.QtCore import Qt

    from dit360_desktop.ui.common.camera import ViewMode

    rgb, _distance, target = _room_target(tmp_path)
    window.show_panorama(rgb)
    viewer = window.viewer
    viewer.set_mode(ViewMode.PERSPECTIVE)
    viewer.camera.look_at(0.0, 0.0)
    panel, feature = window.depth.panel, window.depth
    panel.set_target(target)
    panel.show()
    panel.show_anaglyph.setChecked(True)
    qtbot.waitUntil(lambda: feature._shown_rgb is not None, timeout=30_000)
    panel.ipd.setValue(0.3)  # wide, so the halves differ clearly on a small window
    panel.show_side_by_side.setChecked(True)
    assert not panel.show_anaglyph.isChecked()  # one preview at a time
    qtbot.waitUntil(lambda: feature._mesh_key is not None, timeout=60_000)
    assert np.array_equal(viewer.panorama, rgb)  # the red/cyan texture was put back
    layer = viewer.parallax_layer()
    assert layer.stereo_ipd == 0.3
    frame = _frame(qtbot, window)
    half = frame.shape[1] // 2
    yellow = (np.abs(frame - (250, 220, 0)).max(axis=-1) < 40)[frame.shape[0] // 2]
    left, right = np.flatnonzero(yellow[:half]), np.flatnonzero(yellow[half : 2 * half])
    assert left.mean() > half / 2 > right.mean()  # the near box: right of centre for the left eye
    _save_parallax_screenshot(window, panel, "depth-side-by-side.png")
    panel.ipd.setValue(0.0)
    assert layer.stereo_ipd == 0.0
    # A new stride rebuilds the mesh (the GLB's geometry at that stride).
    faces = feature._mesh_faces
    panel.stride.setValue(4)
    qtbot.waitUntil(lambda: feature._mesh_key is not None and feature._mesh_key[-1] == 4, timeout=60_000)
    assert feature._mesh_faces < faces / 3 and layer.active and layer.stereo_ipd == 0.0
    qtbot.keyClick(viewer, Qt.Key.Key_A)  # the eye keys work here too
    assert feature.eye[0] < 0
    panel.show_side_by_side.setChecked(False)
    assert not layer.active and layer.stereo_ipd is None


def _save_parallax_screenshot(window, panel, name: str) -> None:
    """The 3D view with the panel beside it (docs/depth-3d.md)."""
    from PySide6.QtGui import QPainter, QPixmap

    from dit360_desktop.ui.widgets.window_grab import grab_window

    view, side = grab_window(window.viewer), panel.grab()
    shot = QPixmap(view.width() + side.width(), max(view.height(), side.height()))
    shot.fill(window.palette().window().color())
    painter = QPainter(shot)
    painter.drawPixmap(0, 0, view)
    painter.drawPixmap(view.width(), 0, side)
    painter.end()
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert shot.save(str(SHOTS / name))


def test_export_progress_is_determinate_and_cancel_leaves_no_file(qtbot, window, tmp_path) -> None:
    from PySide6.QtCore import Qt

    from dit360_desktop.panorama.fileio import TEMP_PREFIX

    _rgb, _distance, target = _room_target(tmp_path, 1024, 512)
    panel, feature = window.depth.panel, window.depth
    panel.set_target(target)
    panel.show()
    out = tmp_path / "out"
    out.mkdir()
    panel.ask_path = lambda title, default, file_filter: str(out / default.name)
    panel.stride.setValue(1)  # 524,288 splats, 36 MB: several 8 MiB chunks
    values: list[int] = []
    panel.progress.valueChanged.connect(values.append)
    panel.export_buttons["splats"].click()
    assert panel.cancel_button.isVisible()
    assert feature.wait(120)
    qtbot.waitUntil(lambda: not panel.progress.isVisible(), timeout=20_000)
    assert (out / "room-splats.ply").stat().st_size > 30e6
    steps = sorted(set(values))
    assert steps[-1] == 1000 and len([v for v in steps if 0 < v < 1000]) >= 4, steps  # determinate
    # Cancel: the Cancel button beside the bar; the export stops at its next step and writes nothing.
    panel.export_buttons["glb"].click()
    assert panel.cancel_button.isVisible()
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert not panel.progress.isVisible() and "nothing was written" in panel.state_label.text()
    assert feature.wait(120)
    qtbot.wait(200)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["room-splats.ply"], names
    assert window.last_error_dialog is None  # a cancel is not an error
    assert not any(name.startswith(TEMP_PREFIX) for name in names)


@pytest.fixture
def no_gl(monkeypatch):
    from dit360_desktop.ui.viewer import DISABLE_ENV

    monkeypatch.setenv(DISABLE_ENV, "1")


def test_without_opengl_the_parallax_preview_is_the_reprojected_picture(
    qtbot, no_gl, window, tmp_path
) -> None:
    from PySide6.QtCore import Qt

    from dit360_desktop.ui.depth.parallax import moved_eye
    from dit360_desktop.ui.viewer import ViewerUnavailable

    assert isinstance(window.viewer, ViewerUnavailable)
    rgb, distance, target = _room_target(tmp_path, 512, 256)
    window.show_panorama(rgb)
    panel, feature = window.depth.panel, window.depth
    panel.set_target(target)
    panel.show()
    panel.show_side_by_side.setChecked(True)  # needs OpenGL: refused in words, not half-shown
    assert not panel.show_side_by_side.isChecked() and "OpenGL" in panel.state_label.text()
    panel.show_parallax.setChecked(True)
    qtbot.waitUntil(lambda: feature._shown_rgb is not None, timeout=30_000)
    assert feature._mesh_key is None and np.array_equal(window.viewer.panorama, rgb)
    assert "re-projected picture" in panel.eye_label.text()
    for _ in range(3):
        qtbot.keyClick(panel, Qt.Key.Key_W)
    qtbot.waitUntil(lambda: feature._op is None, timeout=30_000)
    expected = moved_eye(rgb, distance.astype(np.float64), feature.eye)[0]
    assert np.allclose(feature.eye, [0.0, 0.0, 0.15]) and np.array_equal(window.viewer.panorama, expected)
    panel.show_parallax.setChecked(False)
    assert np.array_equal(window.viewer.panorama, rgb)


def test_the_menu_opens_the_panorama_on_screen_and_a_missing_model_is_said(
    qtbot, window, room_entry, monkeypatch
) -> None:
    from PySide6.QtCore import Qt

    from dit360_desktop.models import depth as depth_models
    from dit360_desktop.models.catalog import load_catalog
    from dit360_desktop.panorama.errors import ModelMissingError
    from dit360_desktop.ui.common.jobs import ErrorKind, error_report

    _folder, source = room_entry
    assert window.gallery.select_entry(source.id)
    window.depth.action.trigger()
    panel = window.depth.panel
    assert panel.isVisible() and panel.target.image == source.path

    # No depth model anywhere (the test's own empty models folder and HF cache): the real lookup.
    monkeypatch.setattr(depth_models, "installed_depth_model", REAL_INSTALLED_DEPTH_MODEL)
    queued = []
    monkeypatch.setattr(window.context.jobs, "enqueue_depth", lambda *a: queued.append(a) or 1)
    assert not panel.model_button.isVisible()
    panel.estimate_button.click()
    assert queued == [] and window.last_error_dialog is None
    assert panel.model_button.isVisible() and "No depth model is installed" in panel.state_label.text()
    # "Open model manager…" opens the manager with the depth model selected.
    seen = _open_manager_and_close(
        qtbot, lambda: qtbot.mouseClick(panel.model_button, Qt.MouseButton.LeftButton)
    )
    depth_id = load_catalog().for_role("depth").id
    assert seen == [depth_id]
    assert panel.model_button.isVisible()  # still missing after the manager closed
    # The same typed error through the window's error dialog: its button opens the manager there too,
    # and its hint is the one for a catalog model, not FLUX.1-dev's.
    report = error_report(ModelMissingError("No depth model is installed.", component=depth_id))
    window.show_error(report)
    dialog = window.last_error_dialog
    assert "FLUX" not in dialog.report.message and dialog.report.component == depth_id
    seen = _open_manager_and_close(
        qtbot, lambda: qtbot.mouseClick(dialog.model_manager_button, Qt.MouseButton.LeftButton)
    )
    assert seen == [depth_id]
    assert ErrorKind.MODEL_MISSING is report.kind


def _open_manager_and_close(qtbot, click) -> list:
    """Click something that opens the (modal) model manager; note its selected component, then close it."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from dit360_desktop.ui.model_manager.dialog import ModelManagerDialog

    seen: list = []

    def inspect() -> None:
        dialog = next((w for w in QApplication.topLevelWidgets() if isinstance(w, ModelManagerDialog)), None)
        if dialog is None or not dialog.isVisible():
            QTimer.singleShot(50, inspect)
            return
        if dialog.selected_component() is None:  # selected once its table is filled
            QTimer.singleShot(50, inspect)
            return
        seen.append(dialog.selected_component())
        dialog.reject()

    QTimer.singleShot(0, inspect)
    click()
    qtbot.waitUntil(lambda: bool(seen), timeout=20_000)
    return seen
