"""Knowing when a window is really on screen: its QWindow's first Expose event.

``showEvent`` comes before anything is painted; work deferred until the first exposure (importing torch,
starting the viewer) does not compete with the first frame.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject


class ExposeWatcher(QObject):
    """Install on the window's ``windowHandle()``; calls ``on_exposed`` once and removes itself."""

    def __init__(self, parent: QObject, on_exposed: Callable[[], None]) -> None:
        super().__init__(parent)
        self._on_exposed = on_exposed

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Expose and watched.isExposed():
            watched.removeEventFilter(self)
            self._on_exposed()
        return False
