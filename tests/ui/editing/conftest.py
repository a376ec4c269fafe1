"""An edit-mode host: a window with the GL viewer and the edit panel, as the app puts them together."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.panorama.projection import equirect_directions


def analytic_panorama(width: int = 256, height: int = 128) -> np.ndarray:
    return np.clip(np.rint((equirect_directions(width, height) * 0.5 + 0.5) * 255.0), 0, 255).astype(np.uint8)


@pytest.fixture
def analytic() -> np.ndarray:
    """A 256×128 panorama whose colour is a smooth, seamless function of direction."""
    return analytic_panorama()


@pytest.fixture
def panorama_file(tmp_path: Path) -> Path:
    path = tmp_path / "pano.png"
    Image.fromarray(analytic_panorama()).save(path)
    return path


@pytest.fixture
def gl_viewer(qtbot, qapp) -> Callable:
    from PySide6.QtWidgets import QHBoxLayout, QWidget

    from dit360_desktop.ui.viewer import create_viewer
    from dit360_desktop.ui.viewer.gl_support import opengl_problem
    from dit360_desktop.ui.viewer.gl_widget import PanoramaViewer

    def make(*side_widgets: QWidget) -> tuple[QWidget, PanoramaViewer]:
        problem = opengl_problem()
        if problem is not None:
            pytest.fail(f"GL tests need OpenGL 3.3 core under Xvfb: {problem}")
        window = QWidget()
        qtbot.addWidget(window)
        layout = QHBoxLayout(window)
        viewer = create_viewer()
        assert isinstance(viewer, PanoramaViewer)
        layout.addWidget(viewer, 1)
        for widget in side_widgets:
            layout.addWidget(widget)
        window.resize(720, 360)
        window.show()
        qtbot.waitExposed(window)
        qtbot.waitUntil(lambda: viewer.renderer is not None and viewer.renderer.initialized, timeout=10_000)
        return window, viewer

    return make
