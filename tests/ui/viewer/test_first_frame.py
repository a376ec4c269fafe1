"""What the viewer's first frame costs (issue 21 item 12): the frames right after initializeGL paint no
overlays (the first painter compiles Qt's paint-engine shaders); a frame interval later one does; the
upload thread is made with the first staged upload, not during the set-up."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dit360_desktop.ui.viewer import create_viewer
from dit360_desktop.ui.viewer.gl_support import opengl_problem
from dit360_desktop.ui.viewer.gl_widget import FRAME_INTERVAL_MS

pytestmark = pytest.mark.gl


def test_overlays_come_one_frame_after_the_set_up_and_the_upload_thread_with_the_first_picture(
    qtbot, monkeypatch
) -> None:
    problem = opengl_problem()
    if problem is not None:
        pytest.fail(f"GL tests need OpenGL 3.3 core under Xvfb: {problem}")
    events: list[str] = []
    times: list[float] = []
    viewer = create_viewer()
    cls = type(viewer)
    initialize, paint, overlays = cls._initialize_gl, cls._paint_gl, cls._paint_overlays

    def recorded(name, method):
        def call(self, *args, **kwargs):
            events.append(name)
            times.append(time.perf_counter())
            return method(self, *args, **kwargs)

        return call

    monkeypatch.setattr(cls, "_initialize_gl", recorded("init", initialize))
    monkeypatch.setattr(cls, "_paint_gl", recorded("paint", paint))
    monkeypatch.setattr(cls, "_paint_overlays", recorded("overlays", overlays))
    qtbot.addWidget(viewer)
    viewer.resize(320, 180)
    viewer.show()
    qtbot.waitExposed(viewer)
    qtbot.waitUntil(lambda: "overlays" in events, timeout=10_000)
    first = events.index("init")
    overlays_at = events.index("overlays")
    assert events[first + 1] == "paint" and overlays_at > first + 2  # the first frame paints none
    assert events[overlays_at - 1] == "paint"  # a later frame paints them,
    assert times[overlays_at] - times[first + 1] >= FRAME_INTERVAL_MS / 1000  # on the timer, not at once

    renderer = viewer.renderer
    assert renderer.initialized and renderer._uploader is None  # nothing made for it during the set-up
    viewer.set_panorama(np.full((64, 128, 3), 90, dtype=np.uint8))
    qtbot.waitUntil(lambda: not renderer.staging and renderer.has_image, timeout=10_000)
    viewer.set_panorama(np.full((64, 128, 3), 30, dtype=np.uint8))
    qtbot.waitUntil(lambda: not renderer.staging, timeout=10_000)
    assert renderer._uploader is not None and renderer._uploader.alive
    assert renderer.stats.thread_uploads >= 1


def test_the_shaders_compile_a_frame_after_the_set_up_in_a_turn_of_their_own(qtbot, monkeypatch) -> None:
    """The set-up's turn creates the context; the view and conversion programs compile one frame interval
    later (10-18 ms on llvmpipe that the set-up's turn does without), and a still grabbed before then
    compiles what it draws with."""
    from dit360_desktop.ui.viewer import gl_renderer

    problem = opengl_problem()
    if problem is not None:
        pytest.fail(f"GL tests need OpenGL 3.3 core under Xvfb: {problem}")
    compiled: list[tuple[str, float]] = []
    set_up: list[float] = []
    program_class = gl_renderer.ShaderProgram

    class Recorded(program_class):
        def __init__(self, vertex, fragment, name, *args, **kwargs):
            compiled.append((name, time.perf_counter()))
            super().__init__(vertex, fragment, name, *args, **kwargs)

    monkeypatch.setattr(gl_renderer, "ShaderProgram", Recorded)
    initialize = gl_renderer.PanoramaRenderer.initialize

    def timed(self):
        initialize(self)
        set_up.append(time.perf_counter())

    monkeypatch.setattr(gl_renderer.PanoramaRenderer, "initialize", timed)
    viewer = create_viewer()
    qtbot.addWidget(viewer)
    viewer.resize(320, 180)
    viewer.show()
    qtbot.waitExposed(viewer)
    qtbot.waitUntil(lambda: len(compiled) >= 2, timeout=10_000)
    assert set_up, "the renderer was never set up"
    assert sorted(name for name, _ in compiled[:2]) == ["cubemap conversion", "view"]
    assert all(at - set_up[0] >= FRAME_INTERVAL_MS / 1000 for _, at in compiled[:2])
    assert viewer.renderer.initialized and not viewer.failure

    # A grab right after a fresh set-up draws at once, compiling what it needs if the timer has not.
    compiled.clear()
    other = create_viewer()
    qtbot.addWidget(other)
    other.resize(160, 90)
    other.show()
    qtbot.waitExposed(other)
    qtbot.waitUntil(lambda: other.gl_window().isExposed(), timeout=10_000)
    other.set_panorama(np.full((64, 128, 3), 200, dtype=np.uint8))
    frame = other.grabFramebuffer()
    pixel = frame.pixelColor(80, 45)
    assert (pixel.red(), pixel.green(), pixel.blue()) == (200, 200, 200)
    assert any(name == "view" for name, _ in compiled)
