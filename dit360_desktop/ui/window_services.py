"""The main window's parts as the services of ``AppContext``: the status line, the viewer and the docks.

Each holds only the parts it speaks for, so a feature given the context can reach nothing else of the
window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QStatusBar

from dit360_desktop.ui.common.jobs import ErrorReport

if TYPE_CHECKING:
    import numpy as np


class WindowStatus:
    def __init__(self, bar: QStatusBar, show_error: Callable[[ErrorReport], Any]) -> None:
        self._bar = bar
        self._show_error = show_error

    def show_message(self, text: str, timeout_ms: int = 0) -> None:
        self._bar.showMessage(text, timeout_ms)

    def show_error(self, report: ErrorReport) -> None:
        self._show_error(report)


class WindowViewer:
    def __init__(self, current: Callable[[], Any], show_panorama: Callable[[np.ndarray], None]) -> None:
        self.current = current
        self.show_panorama = show_panorama


class WindowDocks:
    """Docks that features add sit as tabs beside ``beside`` (the queue); ``on_added`` lets the window put
    them in the F10 group."""

    def __init__(
        self, window: QMainWindow, beside: QDockWidget, on_added: Callable[[QDockWidget], None]
    ) -> None:
        self._window = window
        self._beside = beside
        self._on_added = on_added

    def add_dock(self, dock: QDockWidget) -> None:
        self._window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        self._window.tabifyDockWidget(self._beside, dock)
        self._beside.raise_()
        self._on_added(dock)

    def area_of(self, dock: QDockWidget) -> Qt.DockWidgetArea:
        return self._window.dockWidgetArea(dock)
