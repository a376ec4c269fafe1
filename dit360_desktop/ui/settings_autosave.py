"""Settings are saved a moment after they change, not only at quit: a crash (or a power cut) loses at
most the last ``INTERVAL_MS``.

A timer on the UI thread gathers the window's state into ``Settings`` the way quitting does
(``MainWindow.gather_settings``: ``session.gather_session``) and writes the file only when that differs
from what was written last. Gathering is a handful of attribute reads; the write is the
settings module's atomic save.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger(__name__)

INTERVAL_MS = 2000


class SettingsAutosave(QObject):
    def __init__(self, window: Any, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(window)
        self._window = window
        self.saves = 0
        self._last = self._snapshot()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.save_if_changed)
        self._timer.start()

    def save_if_changed(self) -> bool:
        snapshot = self._snapshot()
        if snapshot == self._last:
            return False
        self._window.save_settings()
        self._last = snapshot
        self.saves += 1
        log.debug("Settings saved after a change")
        return True

    def _snapshot(self) -> dict[str, Any]:
        return self._window.gather_settings().to_dict()
