"""No OpenGL available: the factory returns ViewerUnavailable with a clear message, and it still works."""

from __future__ import annotations

import numpy as np
import pytest

from dit360_desktop.panorama.projection import equirect_directions, equirect_to_perspective
from dit360_desktop.ui.common.image_input import qimage_to_rgb
from dit360_desktop.ui.common.viewer_errors import ViewerError
from dit360_desktop.ui.viewer import DISABLE_ENV, ViewerUnavailable, ViewMode, create_viewer, gl_support


@pytest.fixture(autouse=True)
def fresh_probe():
    gl_support._probe_context.cache_clear()
    yield
    gl_support._probe_context.cache_clear()


@pytest.fixture
def panorama() -> np.ndarray:
    return np.clip(np.rint((equirect_directions(256, 128) * 0.5 + 0.5) * 255), 0, 255).astype(np.uint8)


def test_env_var_turns_the_gl_viewer_off(qtbot, monkeypatch):
    monkeypatch.setenv(DISABLE_ENV, "1")
    widget = create_viewer()
    qtbot.addWidget(widget)
    assert isinstance(widget, ViewerUnavailable)
    assert DISABLE_ENV in widget.message_label.text()
    assert "turned off" in widget.failure


def test_no_usable_context_gives_a_message_instead_of_a_crash(qtbot, monkeypatch):
    class NoContext:
        def setFormat(self, fmt):
            pass

        def create(self) -> bool:
            return False

    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.setattr(gl_support, "QOpenGLContext", NoContext)
    widget = create_viewer()
    qtbot.addWidget(widget)
    assert isinstance(widget, ViewerUnavailable)
    text = widget.message_label.text()
    assert "OpenGL 3.3 core" in text or "OpenGL 4.1 core" in text
    assert "graphics driver" in text  # says what to do


def test_too_old_opengl_is_named(qtbot, monkeypatch):
    class OldFormat:
        def majorVersion(self):
            return 2

        def minorVersion(self):
            return 1

    class OldContext:
        def setFormat(self, fmt):
            pass

        def create(self) -> bool:
            return True

        def format(self):
            return OldFormat()

    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.setattr(gl_support, "QOpenGLContext", OldContext)
    widget = create_viewer()
    qtbot.addWidget(widget)
    assert isinstance(widget, ViewerUnavailable)
    assert "offers OpenGL 2.1" in widget.failure


def test_fallback_keeps_the_viewer_api(qtbot, monkeypatch, panorama):
    monkeypatch.setenv(DISABLE_ENV, "1")
    widget = create_viewer()
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.show()
    with pytest.raises(ViewerError, match="no panorama"):
        widget.snapshot(32, 32)
    widget.set_panorama(panorama)
    assert widget.picture.pixmap() is not None and not widget.picture.pixmap().isNull()
    widget.set_preview(np.zeros((16, 32, 3), dtype=np.uint8))
    widget.set_grid_visible(True)
    widget.set_auto_rotate(True)
    assert widget.grid_visible and widget.auto_rotate
    widget.toggle_fullscreen()
    assert not widget.isFullScreen()
    # Snapshots are rendered on the CPU, with the same camera maths as the GL viewer.
    widget.camera.look_at(-60, 15)
    widget.camera.fov = 80
    image = qimage_to_rgb(widget.snapshot(96, 64))
    assert np.array_equal(image, equirect_to_perspective(panorama, -60, 15, 80, 96, 64))
    widget.inspect_seam()
    assert widget.camera.mode is ViewMode.SEAM and widget.camera.yaw == 180
    with qtbot.waitSignal(widget.camera_changed):
        widget.set_mode(ViewMode.FLAT)
    with pytest.raises(ViewerError, match="RGB"):
        widget.set_panorama(np.zeros((4, 8, 4), dtype=np.uint8))
