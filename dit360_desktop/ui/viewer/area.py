"""The centre of the main window: the viewer's toolbar, the viewer, and a line below it.

The GL viewer initialises (PyOpenGL import, shaders, textures) when first shown, so it stays hidden behind
a short note until ``reveal()`` (the window calls it once it is on screen). If OpenGL dies later (a driver
reset, a lost context), the viewer is swapped for the widget that explains why, and ``viewer_replaced``
tells whoever holds on to it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QMainWindow, QVBoxLayout, QWidget

from dit360_desktop.ui.viewer import ViewerUnavailable, create_viewer, fallback_viewer
from dit360_desktop.ui.viewer.controls import ViewControls
from dit360_desktop.ui.viewer.gl_support import opengl_problem
from dit360_desktop.ui.viewer.qa_overlay import attach_quality_overlay

log = logging.getLogger(__name__)


class ViewerArea(QWidget):
    viewer_replaced = Signal(object)  # the new viewer widget

    def __init__(
        self, window: QMainWindow, folders: Callable[[], MutableMapping[str, str]] | None = None
    ) -> None:
        super().__init__()
        self.setObjectName("Centre")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(0)
        # Hidden in the first frame (the note below shows instead), so its OpenGL probe waits for reveal().
        self.viewer: Any = create_viewer(self, probe=False)
        self.quality_overlay = attach_quality_overlay(self.viewer)  # seam score in seam-inspection mode
        self.view_controls = ViewControls(window, self.viewer, folders)
        self._layout.addWidget(self.view_controls.toolbar)
        self.viewer.setVisible(False)
        self.starting_note = QLabel("Starting the 360° viewer…")
        self.starting_note.setObjectName("Hint")
        self.starting_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._layout.addWidget(self.starting_note, 1)
        self._layout.addWidget(self.viewer, 1)
        self.fullscreen = False
        self._connect_viewer()

    def add_below(self, widget: QWidget) -> None:
        self._layout.addWidget(widget)

    def reveal(self) -> None:
        if not isinstance(self.viewer, ViewerUnavailable) and (problem := opengl_problem()) is not None:
            self._on_gl_failed(problem)
        self.starting_note.hide()
        self.viewer.setVisible(True)

    def _connect_viewer(self) -> None:
        self.viewer.fullscreen_changed.connect(self._on_fullscreen)
        self.viewer.gl_failed.connect(self._on_gl_failed)

    def _on_fullscreen(self, fullscreen: bool) -> None:
        self.fullscreen = fullscreen

    def _on_gl_failed(self, message: str) -> None:
        log.error("The 3D viewer stopped: %s", message)
        old = self.viewer
        replacement = fallback_viewer(old, message)
        self._layout.replaceWidget(old, replacement)
        old.hide()
        old.deleteLater()
        self.viewer = replacement
        self.view_controls.attach(replacement)
        self._connect_viewer()
        self.viewer_replaced.emit(replacement)
