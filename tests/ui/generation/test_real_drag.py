"""A real drag and drop: another process drags a file over the running window (X11 XDND), moved by XTest.

Synthetic DragEnter/Drop events sent straight to a widget miss what the window system does: drag moves,
the window container around the 3D view, enter/leave between widgets. Both faults of issue 13 (an
AssertionError on every drag move, a RecursionError over the viewer with no drop) only showed up
this way.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

pytestmark = pytest.mark.gl

SOURCE = Path(__file__).with_name("drag_source.py")
SOURCE_AT = (10, 10)


def _xdotool(*args: object) -> None:
    subprocess.run(["xdotool", *map(str, args)], check=True, timeout=10)


@pytest.fixture
def drag_source(tmp_path):
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (apt-get install xdotool)")
    if QGuiApplication.platformName() != "xcb":
        pytest.skip("a real drag needs an X server (runs under Xvfb)")
    path = tmp_path / "dragged.png"
    x = np.linspace(0, 255, 256, dtype=np.uint8)
    Image.fromarray(np.stack([np.tile(x, (128, 1))] * 3, -1)).save(path)
    log = (tmp_path / "drag_source.log").open("w")
    process = subprocess.Popen(
        [sys.executable, str(SOURCE), str(path), *map(str, SOURCE_AT)],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert process.stdout.readline().strip() == "READY"
    yield path
    process.kill()
    process.wait(10)
    log.close()


def _centre(widget: QWidget) -> tuple[int, int]:
    point = widget.mapToGlobal(widget.rect().center())
    return point.x(), point.y()


def _drag(qtbot, target: tuple[int, int], while_over=None) -> None:
    """Press on the source window, move over ``target`` in steps, wiggle there, release."""
    start = (SOURCE_AT[0] + 40, SOURCE_AT[1] + 30)
    _xdotool("mousemove", *start)
    qtbot.wait(100)
    _xdotool("mousedown", 1)
    qtbot.wait(300)
    steps = 8
    for i in range(1, steps + 1):
        _xdotool("mousemove", start[0] + (target[0] - start[0]) * i // steps,
                 start[1] + (target[1] - start[1]) * i // steps)  # fmt: skip
        qtbot.wait(60)
    for dx in (6, -6, 3, 0):  # drag moves over the target, not just the enter
        _xdotool("mousemove", target[0] + dx, target[1])
        qtbot.wait(80)
    if while_over is not None:
        while_over()
    _xdotool("mouseup", 1)


def test_a_file_dragged_from_another_application_drops_everywhere(qtbot, tmp_path, drag_source):
    from dit360_desktop.settings import Settings
    from dit360_desktop.ui.main_window import MainWindow
    from dit360_desktop.ui.viewer.gl_widget import PanoramaViewer
    from dit360_desktop.ui.widgets.drop_zone import DropHighlight

    window = MainWindow(Settings(), library_dir_override=tmp_path / "library", start_worker=False)
    qtbot.addWidget(window)
    window.setGeometry(200, 40, 1360, 900)
    window.show()
    qtbot.waitExposed(window)
    viewer = window.viewer
    assert isinstance(viewer, PanoramaViewer), "this test needs the OpenGL viewer"
    # Every drop asks what the picture is for once other features add uses; answer "init image".
    asked: list[list[str]] = []
    window.drop.ask_use = lambda path, fields, choices: (asked.append([c[0] for c in choices]), "init")[1]
    qtbot.waitUntil(lambda: viewer.renderer is not None and viewer.renderer.initialized, timeout=20_000)
    qtbot.waitUntil(lambda: window.gallery is not None and window.gallery.isVisible(), timeout=20_000)

    targets = {
        "viewer": _centre(viewer),
        "prompt panel": _centre(window.prompt_panel),
        "gallery": _centre(window.gallery),
    }
    for name, point in targets.items():
        assert window.childAt(window.mapFromGlobal(QPoint(*point))) is not None, name
        seen = {}

        def check_highlight(seen=seen) -> None:
            overlay = window.findChild(DropHighlight)
            seen["window"] = window.drop.highlighted and overlay is not None and overlay.isVisible()
            seen["viewer"] = viewer.drop_highlighted

        _drag(qtbot, point, check_highlight)
        qtbot.waitUntil(lambda: window.init_image is not None, timeout=10_000)
        assert window.init_image.path == str(drag_source), name
        assert not asked or "init" in asked[-1], name
        assert seen == {"window": True, "viewer": True}, name
        qtbot.waitUntil(lambda: not window.drop.highlighted, timeout=5000)
        assert not viewer.drop_highlighted
        window.init_card.remove_button.click()
        assert window.init_image is None
    window.close()
