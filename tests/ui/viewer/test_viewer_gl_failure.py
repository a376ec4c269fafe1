"""The GL viewer when its shaders fail to link because the context stopped being current (seen under heavy
CPU load with Xvfb + llvmpipe: "did not link" with an empty log, then a segfault on quit in the GL
window's ``event``). Run in a child process, since the failure mode was a crash."""

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

CHILD = textwrap.dedent(
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


def test_a_context_lost_during_shader_setup_shows_a_message_and_exits_cleanly(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONFAULTHANDLER": "1"}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(report["failures"]) == 1 and report["failures"][0] == report["failure"]
    assert "lost its OpenGL context while setting up its shaders" in report["failure"]
    assert "did not link: the driver gave no reason" in report["failure"]
    # The failed GL window is out of the way: nothing paints through its context again.
    assert report["gl_window_visible"] is False
    assert report["frames_after_failure"] == 0
    assert report["label"] is not None and report["failure"] in report["label"]
    assert report["label"].startswith("3D viewer unavailable")
    assert "non-current context" not in done.stderr
