"""The GL viewer when its OpenGL context is not current where Qt promises it is.

Seen under heavy CPU load with Xvfb + llvmpipe: the view shaders "did not link" with an empty log (the
context had stopped being current), paintGL then ran with no current context ("QOpenGLFunctions created
with non-current context"), and the app segfaulted in the GL window's ``event``: after paintGL returns,
QOpenGLWindow uses ``QOpenGLContext.currentContext()`` without checking it (gdb: QPaintDeviceWindow::event
-> QOpenGLContext::defaultFramebufferObject -> isValid on a null context). Each case runs in a child
process, since the failure mode was a crash.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.gl

REPO = Path(__file__).resolve().parents[3]

LINK_FAILS = textwrap.dedent(
    """
    import json, sys, time
    from OpenGL import GL
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtGui import QOpenGLContext
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget
    from dit360_desktop.ui.viewer import prepare_application_opengl
    from dit360_desktop.ui.viewer import gl_program

    class ContextLostBeforeLink:
        # What the driver did under load: the context was no longer current when the program linked.
        def __getattr__(self, name):
            return getattr(GL, name)

        def glLinkProgram(self, program):
            QOpenGLContext.currentContext().doneCurrent()
            GL.glLinkProgram(program)

    gl_program.GL = ContextLostBeforeLink()
    prepare_application_opengl()
    app = QApplication([])
    from dit360_desktop.ui.viewer.gl_widget import PanoramaViewer
    import numpy as np

    host = QWidget()
    viewer = PanoramaViewer(host)
    QVBoxLayout(host).addWidget(viewer)
    viewer.set_panorama(np.full((64, 128, 3), 90, dtype=np.uint8))
    failures = []
    viewer.gl_failed.connect(failures.append)
    frames = []
    viewer.gl_window().frameSwapped.connect(lambda: frames.append(1))
    host.resize(320, 200)
    host.show()

    def spin(seconds, until=lambda: False):
        end = time.monotonic() + seconds
        while time.monotonic() < end and not until():
            app.processEvents()
            time.sleep(0.005)

    spin(30, lambda: bool(failures))
    frames.clear()
    # Everything that used to paint through the failed context again: updates, input, a resize.
    for _ in range(3):
        viewer.request_frame()
        spin(0.1)
    QTest.mouseMove(viewer.gl_window(), QPoint(40, 40))
    QTest.mouseClick(viewer.gl_window(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(50, 50))
    host.resize(360, 220)
    spin(0.5)
    label = viewer.findChild(QLabel, "ViewerFailure")
    print(json.dumps({
        "failures": failures,
        "failure": viewer.failure,
        "frames_after_failure": len(frames),
        "gl_window_visible": viewer.gl_window().isVisible(),
        "label": label.text() if label is not None and label.isVisible() else None,
    }), flush=True)
    host.close()
    app.quit()
    """
)


DRAW_DROPS_CONTEXT = textwrap.dedent(
    """
    import json, time
    import numpy as np
    from PySide6.QtGui import QOpenGLContext
    from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget
    from dit360_desktop.ui.viewer import prepare_application_opengl
    from dit360_desktop.ui.viewer.gl_renderer import PanoramaRenderer

    prepare_application_opengl()
    app = QApplication([])
    from dit360_desktop.ui.viewer.gl_widget import PanoramaViewer

    drops = []
    real_draw = PanoramaRenderer.draw

    def draw(self, *args, **kwargs):
        # Two frames' GL work ends with no current context, as the driver left it under load.
        real_draw(self, *args, **kwargs)
        if len(drops) < 2:
            drops.append(1)
            QOpenGLContext.currentContext().doneCurrent()

    host = QWidget()
    viewer = PanoramaViewer(host)
    QVBoxLayout(host).addWidget(viewer)
    viewer.set_panorama(np.full((64, 128, 3), 90, dtype=np.uint8))
    frames = []
    viewer.gl_window().frameSwapped.connect(lambda: frames.append(1))
    host.resize(320, 200)
    host.show()

    def spin(seconds, until=lambda: False):
        end = time.monotonic() + seconds
        while time.monotonic() < end and not until():
            app.processEvents()
            time.sleep(0.005)

    spin(30, lambda: viewer.renderer is not None and viewer.renderer.initialized and frames)
    PanoramaRenderer.draw = draw
    viewer.camera.rotate(10.0, 0.0)
    spin(10, lambda: len(drops) == 2)
    frames.clear()
    viewer.camera.rotate(10.0, 0.0)
    spin(5, lambda: frames)
    print(json.dumps({
        "drops": len(drops),
        "frames_after": len(frames),
        "failure": viewer.failure,
        "centre": viewer.snapshot(8, 8).pixel(4, 4) & 0xFFFFFF,
    }), flush=True)
    host.close()
    """
)


def run_child(tmp_path: Path, source: str) -> tuple[dict, str]:
    script = tmp_path / "child.py"
    script.write_text(source)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONFAULTHANDLER": "1"}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    # Before the fix: -11, "Segmentation fault ... gl_widget.py ... in event".
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_a_frame_that_leaves_no_current_context_does_not_crash(tmp_path: Path) -> None:
    report, _ = run_child(tmp_path, DRAW_DROPS_CONTEXT)
    assert report["drops"] == 2
    # The viewer made its context current again and goes on drawing the panorama.
    assert report["failure"] is None
    assert report["frames_after"] >= 1
    assert report["centre"] == 0x5A5A5A


def test_a_context_lost_during_shader_setup_shows_a_message_and_exits_cleanly(tmp_path: Path) -> None:
    report, stderr = run_child(tmp_path, LINK_FAILS)
    assert len(report["failures"]) == 1 and report["failures"][0] == report["failure"]
    assert "lost its OpenGL context while setting up its shaders" in report["failure"]
    assert "did not link: the driver gave no reason" in report["failure"]
    # The failed GL window is out of the way: nothing paints through its context again.
    assert report["gl_window_visible"] is False
    assert report["frames_after_failure"] == 0
    assert report["label"] is not None and report["failure"] in report["label"]
    assert report["label"].startswith("3D viewer unavailable")
    assert "non-current context" not in stderr
