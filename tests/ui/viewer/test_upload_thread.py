"""Panorama uploads off the UI thread (issue 21 item 13): the upload thread's cubemap equals the UI thread's,
pixel for pixel, it is built in bands that take turns with frames, a newer picture wins, and a failing
thread hands the upload back to the UI thread's steps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from OpenGL import GL

from dit360_desktop.ui.viewer import create_viewer
from dit360_desktop.ui.viewer.gl_cubemap import BAND_ROWS, bands
from dit360_desktop.ui.viewer.gl_renderer import PanoramaRenderer
from dit360_desktop.ui.viewer.gl_support import opengl_problem
from dit360_desktop.ui.viewer.gl_upload_thread import _ThreadConverter

pytestmark = pytest.mark.gl

WIDTH, HEIGHT = 2048, 1024


@pytest.fixture
def noise() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)


def make_viewer(qtbot, *, thread: bool, monkeypatch):
    problem = opengl_problem()
    if problem is not None:
        pytest.fail(f"GL tests need OpenGL 3.3 core under Xvfb: {problem}")
    monkeypatch.setattr(PanoramaRenderer, "upload_thread_enabled", thread)
    viewer = create_viewer()
    qtbot.addWidget(viewer)
    viewer.set_readout_visible(False)
    viewer.resize(320, 180)
    viewer.show()
    qtbot.waitExposed(viewer)
    qtbot.waitUntil(lambda: viewer.renderer is not None and viewer.renderer.initialized, timeout=10_000)
    # A first picture, so the next one is staged (converted while this one stays on screen).
    viewer.set_panorama(np.full((64, 128, 3), 60, dtype=np.uint8))
    qtbot.waitUntil(lambda: not viewer.renderer.staging and viewer.renderer.has_image, timeout=10_000)
    viewer.renderer.finish_staged()
    return viewer


def cube_level(viewer, level: int) -> list[np.ndarray]:
    renderer = viewer.renderer
    surface = viewer.gl_window()
    surface.makeCurrent()
    try:
        size = max(1, renderer.stats.face_size >> level)
        GL.glBindTexture(GL.GL_TEXTURE_CUBE_MAP, renderer._panorama_cube)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        faces = []
        for i in range(6):
            data = GL.glGetTexImage(
                GL.GL_TEXTURE_CUBE_MAP_POSITIVE_X + i, level, GL.GL_RGB, GL.GL_UNSIGNED_BYTE
            )
            faces.append(np.frombuffer(data, dtype=np.uint8).reshape(size, size, 3).copy())
        GL.glBindTexture(GL.GL_TEXTURE_CUBE_MAP, 0)
        return faces
    finally:
        surface.doneCurrent()


def upload(viewer, qtbot, image: np.ndarray) -> None:
    viewer.set_panorama(image)
    assert viewer.renderer.staging
    qtbot.waitUntil(lambda: not viewer.renderer.staging, timeout=60_000)


def test_thread_cubemap_equals_the_ui_threads_in_bands(qtbot, monkeypatch, noise) -> None:
    on_thread = make_viewer(qtbot, thread=True, monkeypatch=monkeypatch)
    stats = on_thread.renderer.stats
    steps, uploads = stats.staged_steps, stats.thread_uploads
    upload(on_thread, qtbot, noise)
    assert stats.thread_uploads == uploads + 1
    face = stats.face_size
    assert face == math.ceil(WIDTH / math.pi) > BAND_ROWS
    # Every face is drawn a band at a time, each band a step (a turn between frames) of its own; then
    # the halving blits of the large mip levels, also in bands.
    face_bands = 6 * len(bands(face))
    mip_bands = 6 * sum(len(bands(face >> lv)) for lv in range(1, 12) if (face >> lv) > BAND_ROWS)
    assert stats.staged_steps - steps >= 2 + face_bands + mip_bands
    thread_faces = [cube_level(on_thread, level) for level in (0, 1, 2)]
    on_thread.close()

    on_ui = make_viewer(qtbot, thread=False, monkeypatch=monkeypatch)
    upload(on_ui, qtbot, noise)
    assert on_ui.renderer.stats.thread_uploads == 0 and on_ui.renderer._uploader is None
    for level, faces in enumerate(thread_faces):
        for mine, theirs in zip(faces, cube_level(on_ui, level), strict=True):
            assert np.array_equal(mine, theirs), f"level {level} differs"
    # The content is the picture: level 0 is not empty and each mip level halves the one above it.
    level0, level1 = thread_faces[0][4].astype(int), thread_faces[1][4].astype(int)
    assert level0.std() > 20
    h = level1.shape[0]
    pooled = level0[: 2 * h, : 2 * h].reshape(h, 2, h, 2, 3).mean(axis=(1, 3))
    assert np.abs(pooled - level1).max() <= 1.0


def test_old_picture_stays_until_the_new_one_is_complete(qtbot, monkeypatch) -> None:
    viewer = make_viewer(qtbot, thread=True, monkeypatch=monkeypatch)
    renderer = viewer.renderer
    viewer.set_panorama(np.full((HEIGHT, WIDTH, 3), 200, dtype=np.uint8))
    assert renderer.upload_on_thread
    assert cube_level(viewer, 0)[0][10, 10].tolist() == [60] * 3
    qtbot.waitUntil(lambda: not renderer.staging, timeout=60_000)
    assert not renderer.upload_on_thread
    assert cube_level(viewer, 0)[0][10, 10].tolist() == [200] * 3


def test_a_newer_picture_wins_over_one_still_uploading(qtbot, monkeypatch) -> None:
    viewer = make_viewer(qtbot, thread=True, monkeypatch=monkeypatch)
    renderer = viewer.renderer
    uploads = renderer.stats.thread_uploads
    viewer.set_panorama(np.full((HEIGHT, WIDTH, 3), 200, dtype=np.uint8))
    job = renderer._staged_job
    qtbot.waitUntil(lambda: job.steps > 3, timeout=10_000)
    viewer.set_panorama(np.full((HEIGHT // 2, WIDTH // 2, 3), 120, dtype=np.uint8))
    qtbot.waitUntil(lambda: not renderer.staging, timeout=60_000)
    assert job.cancelled and not job.finished and job.upload.cube == 0  # the thread deleted its cube
    assert renderer.stats.thread_uploads == uploads + 1
    assert renderer.stats.face_size == math.ceil(WIDTH / 2 / math.pi)
    assert cube_level(viewer, 0)[0][10, 10].tolist() == [120] * 3


def test_a_snapshot_during_a_thread_upload_shows_the_new_picture(qtbot, monkeypatch) -> None:
    from dit360_desktop.ui.common.image_input import qimage_to_rgb

    viewer = make_viewer(qtbot, thread=True, monkeypatch=monkeypatch)
    viewer.set_panorama(np.full((HEIGHT, WIDTH, 3), 200, dtype=np.uint8))
    assert viewer.renderer.upload_on_thread
    assert qimage_to_rgb(viewer.snapshot(8, 8))[4, 4].tolist() == [200] * 3
    assert not viewer.renderer.staging


def test_a_failing_thread_hands_the_upload_to_the_ui_thread(qtbot, monkeypatch, noise, caplog) -> None:
    viewer = make_viewer(qtbot, thread=True, monkeypatch=monkeypatch)

    def broken(self, upload):
        raise RuntimeError("driver trouble")
        yield

    monkeypatch.setattr(_ThreadConverter, "_conversion_steps", broken)
    uploads = viewer.renderer.stats.thread_uploads
    upload(viewer, qtbot, np.full((HEIGHT, WIDTH, 3), 90, dtype=np.uint8))
    assert viewer.renderer.stats.thread_uploads == uploads
    assert cube_level(viewer, 0)[2][5, 5].tolist() == [90] * 3
    assert "converting on the UI thread" in caplog.text


def test_a_live_preview_builds_no_mip_chain_on_the_ui_thread(qtbot, monkeypatch) -> None:
    """glGenerateMipmap compiled llvmpipe shaders on the UI thread at a session's first preview (120 ms,
    300-500 ms under load): the preview cube is sampled from its level 0 alone."""
    from dit360_desktop.ui.common.image_input import qimage_to_rgb

    viewer = make_viewer(qtbot, thread=True, monkeypatch=monkeypatch)
    generated: list[int] = []
    real = GL.glGenerateMipmap
    monkeypatch.setattr(GL, "glGenerateMipmap", lambda target: (generated.append(target), real(target)))
    viewer.set_preview(np.full((128, 256, 3), 140, dtype=np.uint8))
    assert qimage_to_rgb(viewer.snapshot(8, 8))[4, 4].tolist() == [140] * 3
    assert viewer.renderer.stats.preview_uploads >= 1 and generated == []
    surface = viewer.gl_window()
    surface.makeCurrent()
    try:
        GL.glBindTexture(GL.GL_TEXTURE_CUBE_MAP, viewer.renderer._preview_cube)
        min_filter = GL.glGetTexParameteriv(GL.GL_TEXTURE_CUBE_MAP, GL.GL_TEXTURE_MIN_FILTER)
        GL.glBindTexture(GL.GL_TEXTURE_CUBE_MAP, 0)
    finally:
        surface.doneCurrent()
    assert int(np.asarray(min_filter).ravel()[0]) == GL.GL_LINEAR


def test_stop_ends_a_job_that_waits_for_its_turn(qtbot, monkeypatch) -> None:
    """At quit (aboutToQuit) the thread must end even while its job waits for a turn the UI thread will
    no longer give: a join that waited for it would hang the quitting app."""
    viewer = make_viewer(qtbot, thread=True, monkeypatch=monkeypatch)
    renderer = viewer.renderer
    monkeypatch.setattr(renderer, "give_upload_turn", lambda: False)
    viewer.set_panorama(np.full((HEIGHT, WIDTH, 3), 30, dtype=np.uint8))
    job = renderer._staged_job
    qtbot.waitUntil(lambda: job.wants_turn, timeout=10_000)
    uploader = renderer._uploader
    uploader.stop()
    assert not uploader.alive
    assert job.done.is_set() and job.cancelled and job.upload.cube == 0
