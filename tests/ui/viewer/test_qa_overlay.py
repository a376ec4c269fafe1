"""The seam-quality overlay in seam-inspection mode: scored off the UI thread, painted over the view."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from dit360_desktop.panorama import qa
from dit360_desktop.panorama.projection import equirect_directions
from dit360_desktop.ui.common.camera import ViewMode
from dit360_desktop.ui.common.image_input import qimage_to_rgb
from dit360_desktop.ui.viewer import create_viewer
from dit360_desktop.ui.viewer.gl_support import opengl_problem
from dit360_desktop.ui.viewer.qa_overlay import attach_quality_overlay

pytestmark = pytest.mark.gl


def panorama(seam: bool) -> np.ndarray:
    image = (equirect_directions(512, 256) * 0.5 + 0.5) * 200.0
    if seam:
        image += np.linspace(0.0, 55.0, 512)[None, :, None]
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


@pytest.fixture
def viewer(qtbot, qapp):
    problem = opengl_problem()
    if problem is not None:
        pytest.fail(f"GL tests need OpenGL 3.3 core under Xvfb: {problem}")
    widget = create_viewer()
    qtbot.addWidget(widget)
    widget.resize(640, 360)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.waitUntil(lambda: widget.renderer is not None and widget.renderer.initialized, timeout=10_000)
    return widget


def panel_pixels(viewer) -> np.ndarray:
    frame = qimage_to_rgb(viewer.grabFramebuffer())
    height, width = frame.shape[:2]
    return frame[: height // 2, width // 2 :].reshape(-1, 3).astype(int)


def test_overlay_scores_in_seam_mode_and_warns(viewer, qtbot) -> None:
    overlay = attach_quality_overlay(viewer)
    seamed = panorama(seam=True)
    viewer.set_panorama(seamed)
    assert not overlay.visible()  # not in seam mode: nothing is scored or drawn
    assert overlay.report is None
    viewer.inspect_seam()
    assert viewer.camera.view.mode is ViewMode.SEAM
    assert overlay.visible()
    qtbot.waitUntil(lambda: overlay.report is not None, timeout=10_000)
    report = overlay.report
    assert report.seam == pytest.approx(qa.seam_score(seamed))
    assert report.seam_poor and report.verdicts[0].startswith("Visible seam")
    viewer.request_frame()
    qtbot.wait(200)
    pixels = panel_pixels(viewer)
    # The heat strip is red where rows step hard, and the warning text is amber.
    red = (pixels[:, 0] > 200) & (pixels[:, 1] < 60) & (pixels[:, 2] < 60)
    assert red.sum() > 100
    if os.environ.get("DIT360_SCREENSHOT_DIR"):
        viewer.grabFramebuffer().save(str(Path(os.environ["DIT360_SCREENSHOT_DIR"]) / "viewer-seam-qa.png"))


def test_overlay_follows_a_new_panorama(viewer, qtbot) -> None:
    overlay = attach_quality_overlay(viewer)
    viewer.set_panorama(panorama(seam=True))
    viewer.inspect_seam()
    overlay.visible()
    qtbot.waitUntil(lambda: overlay.report is not None, timeout=10_000)
    clean = panorama(seam=False)
    viewer.set_panorama(clean)
    assert overlay.report is None  # the old score is not shown for the new panorama
    overlay.visible()
    qtbot.waitUntil(lambda: overlay.report is not None, timeout=10_000)
    assert overlay.report.seam < 1.2 and not overlay.report.poor


def test_scoring_runs_as_a_background_op_on_the_pool(viewer, qtbot, monkeypatch) -> None:
    """SeamQA is the app's one background helper at work: a QThreadPool thread scores, the UI thread gets
    the report, and a viewer closed meanwhile gets no callback."""
    import threading

    from PySide6.QtCore import QThread, QThreadPool

    started, release, threads = threading.Event(), threading.Event(), []
    real_assess = qa.assess

    def slow_assess(image):
        threads.append(QThread.currentThread())
        started.set()
        release.wait(10)
        return real_assess(image)

    monkeypatch.setattr(qa, "assess", slow_assess)
    pool = QThreadPool.globalInstance()
    before = pool.activeThreadCount()
    overlay = attach_quality_overlay(viewer)
    viewer.set_panorama(panorama(seam=True))
    viewer.inspect_seam()
    assert overlay.visible()
    assert started.wait(10)
    assert pool.activeThreadCount() == before + 1  # on the pool, not a thread of its own
    assert threads[0] is not QThread.currentThread()
    assert overlay.report is None
    release.set()
    qtbot.waitUntil(lambda: overlay.report is not None, timeout=10_000)
    assert overlay.report.seam_poor
