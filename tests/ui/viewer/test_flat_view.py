"""The flat view is pixel-true: 1:1 copies the panorama's pixels, fit shows all of it with square corners
and unblurred top and bottom rows (it samples the equirect itself, not the cubemap)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtGui import QImage

from dit360_desktop.ui.common.camera import (
    MODE_SPECS,
    CameraView,
    PanoramaCamera,
    ViewMode,
    flat_fit_fov,
    fov_for_pixel_scale,
)
from dit360_desktop.ui.common.image_input import qimage_to_rgb
from dit360_desktop.ui.viewer.render_settings import BACKGROUND, draw_settings, flat_texel_origin

BACKGROUND_RGB = np.rint(np.array(BACKGROUND) * 255).astype(int)


# ---- camera maths (no OpenGL) ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", [ViewMode.PERSPECTIVE, ViewMode.LITTLE_PLANET, ViewMode.FLAT])
def test_fov_for_pixel_scale_inverts_degrees_per_pixel(mode):
    camera = PanoramaCamera(mode)
    fov = fov_for_pixel_scale(mode, 800, 4096)
    camera.fov = fov
    assert camera.fov == pytest.approx(fov)
    assert camera.degrees_per_pixel(800) == pytest.approx(360 / 4096)


def test_fit_shows_the_whole_panorama_and_stays_fitted():
    camera = PanoramaCamera()
    camera.set_viewport(1200, 400)  # wider than 2:1: the height decides, background left and right
    camera.look_at(50, 10)
    camera.fit()
    assert camera.mode is ViewMode.FLAT
    assert (camera.yaw, camera.pitch, camera.fov) == (0.0, 0.0, 540.0)
    camera.set_viewport(600, 800)  # portrait: the width decides
    assert camera.fov == 360.0 == flat_fit_fov(0.75)
    camera.zoom(0.5)
    camera.set_viewport(800, 600)  # zoomed in: a resize keeps the zoom
    assert camera.fov == 180.0
    # Entering the flat view starts fitted; reset goes back to it.
    other = PanoramaCamera()
    other.set_viewport(1000, 400)
    other.set_mode(ViewMode.FLAT)
    assert other.fov == 450.0
    other.zoom(0.5)
    other.reset()
    assert other.fov == 450.0
    assert MODE_SPECS[ViewMode.FLAT].fov_max == 360.0  # narrower windows cannot zoom out past 360°


def test_texel_origin():
    def origin(yaw, pitch, width, height, size=(512, 256)):
        settings = draw_settings(CameraView(yaw, pitch, 360 * width / size[0], ViewMode.FLAT))
        return flat_texel_origin(settings, width, height, size)

    assert origin(0, 0, 512, 256) == (0, 0)
    assert origin(0, 0, 100, 60) == (206, 98)
    assert origin(90, 0, 100, 60) == (334, 98)  # a quarter turn is 128 texels to the right
    assert origin(0, 45, 100, 60) == (206, 34)  # 45° up is 64 rows
    assert origin(-180, 0, 512, 256) == (-256, 0)  # wraps in the shader
    settings = draw_settings(CameraView(0, 0, 200, ViewMode.FLAT))
    assert flat_texel_origin(settings, 100, 60, (512, 256)) is None  # not 1:1
    assert flat_texel_origin(settings, 100, 60, (500, 256)) is None  # not 2:1


# ---- rendered (OpenGL under Xvfb) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    """Independent random pixels: any filtering or resampling changes them."""
    return np.random.default_rng(360).integers(0, 256, (256, 512, 3), dtype=np.uint8)


@pytest.fixture
def viewer(qtbot):
    from dit360_desktop.ui.viewer import create_viewer
    from dit360_desktop.ui.viewer.gl_widget import PanoramaViewer

    widget = create_viewer()
    assert isinstance(widget, PanoramaViewer)
    qtbot.addWidget(widget)
    widget.set_readout_visible(False)
    widget.resize(320, 180)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.waitUntil(lambda: widget.renderer is not None and widget.renderer.initialized, timeout=10_000)
    widget.set_mode(ViewMode.FLAT)
    return widget


def _snapshot(viewer, width, height, fov=None) -> np.ndarray:
    return qimage_to_rgb(viewer.snapshot(width, height, fov)).astype(int)


@pytest.mark.gl
@pytest.mark.parametrize(("yaw", "pitch"), [(0, 0), (37.3, 12.9), (179.0, -20.0), (-120.0, 30.0)])
def test_actual_pixels_copy_the_panorama(viewer, noise, yaw, pitch):
    viewer.set_panorama(noise)
    width, height = 200, 100
    viewer.camera.fov = 360 * width / 512
    viewer.camera.look_at(yaw, pitch)
    view = viewer.camera.view
    column, row = flat_texel_origin(draw_settings(view), width, height, (512, 256))
    expected = np.roll(noise, -column, axis=1)[row : row + height, :width].astype(int)
    assert np.array_equal(_snapshot(viewer, width, height), expected)


@pytest.mark.gl
def test_actual_pixels_on_screen_and_after_a_resize(viewer, noise, qtbot):
    viewer.set_panorama(noise)
    viewer.show_actual_pixels()
    assert viewer.at_actual_pixels()
    viewer.resize(300, 150)
    # 1:1 survives the resize.
    qtbot.waitUntil(lambda: viewer.gl_window().width() == 300 and viewer.at_actual_pixels())
    frame = qimage_to_rgb(viewer.grabFramebuffer().convertToFormat(QImage.Format.Format_RGB888)).astype(int)
    column, row = flat_texel_origin(draw_settings(viewer.camera.view), 300, 150, (512, 256))
    assert np.array_equal(frame, np.roll(noise, -column, axis=1)[row : row + 150, :300])


@pytest.mark.gl
def test_a_grab_right_after_a_zoom_is_full_resolution(viewer, noise):
    # While the camera moves, the software renderer draws at reduced resolution; a grab is a still and
    # must not be that frame (CI grabbed one within the settle time of the resize and got a blur).
    viewer.set_panorama(noise)
    viewer.show_actual_pixels()
    viewer.grabFramebuffer()  # the upload is done; what follows is quick
    viewer.camera.look_at(10, 5)  # the camera has just moved
    frame = qimage_to_rgb(viewer.grabFramebuffer().convertToFormat(QImage.Format.Format_RGB888)).astype(int)
    width, height = frame.shape[1], frame.shape[0]
    column, row = flat_texel_origin(draw_settings(viewer.camera.view), width, height, (512, 256))
    assert np.array_equal(frame, np.roll(noise, -column, axis=1)[row : row + height, :width])


@pytest.mark.gl
def test_fit_is_sharp_at_the_poles_and_square_at_the_corners(viewer):
    # 2×2 blocks of alternating colours, right up to the top and bottom rows.
    blocks = (np.add.outer(np.arange(128), np.arange(256)) % 2).astype(np.uint8)
    panorama = np.repeat(np.repeat(blocks, 2, axis=0), 2, axis=1)[..., None] * np.array(
        [150, 40, 90], np.uint8
    )
    panorama = panorama + 60
    viewer.set_panorama(panorama)
    viewer.camera.set_viewport(256, 160)
    viewer.fit_panorama()
    assert viewer.camera.fov == 360.0
    shot = _snapshot(viewer, 256, 160)
    # The 256×128 picture sits in the middle: 16 rows of background above and below, square corners.
    top, bottom = 16, 144
    assert np.abs(shot[:top] - BACKGROUND_RGB).max() <= 1
    assert np.abs(shot[bottom:] - BACKGROUND_RGB).max() <= 1
    # Each screen pixel covers one 2×2 block: its colour exactly, in the first and last rows too.
    expected = blocks.astype(int)[..., None] * np.array([150, 40, 90]) + 60
    picture = shot[top:bottom]
    assert np.abs(picture - expected).max() <= 2
    for corner in (picture[0, 0], picture[0, -1], picture[-1, 0], picture[-1, -1]):
        assert np.abs(corner - BACKGROUND_RGB).max() > 15


@pytest.mark.gl
def test_flat_texture_is_uploaded_once_and_only_for_the_flat_view(viewer, noise):
    viewer.set_mode(ViewMode.PERSPECTIVE)
    viewer.set_panorama(noise)
    _snapshot(viewer, 64, 32)
    assert viewer.renderer.flat.uploads == 0
    viewer.set_mode(ViewMode.FLAT)
    _snapshot(viewer, 64, 32)
    _snapshot(viewer, 64, 32)
    assert viewer.renderer.flat.uploads == 1


@pytest.mark.gl
def test_wider_than_the_texture_limit_uses_the_cubemap(viewer, noise, monkeypatch):
    monkeypatch.setattr(type(viewer.renderer), "texture_size_limit", 256)
    viewer.set_panorama(noise)
    shot = _snapshot(viewer, 128, 64, fov=360)
    assert viewer.renderer.flat.uploads == 0
    assert math.isfinite(shot.mean())
