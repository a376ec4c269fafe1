"""Closing the window while the generation thread runs, without blocking the event loop.

A running or waiting job makes the close ask first. Once the user agrees, the thread is told to stop and
the close is refused for now; when the thread has ended, the window is closed again, for real. The event
loop keeps running meanwhile, so the last queued signals from the worker are still delivered.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget

from dit360_desktop.ui.generation.worker import GenerationWorker


class CloseGuard(QObject):
    def __init__(
        self,
        window: QWidget,
        worker: GenerationWorker,
        *,
        confirm: Callable[[], bool],
        on_stopping: Callable[[], None],
    ) -> None:
        super().__init__(window)
        self._window = window
        self._worker = worker
        self._confirm = confirm
        self._on_stopping = on_stopping
        # Set once the user has agreed to quit (or the app quits without asking): never ask twice.
        self.confirmed = False
        worker.finished.connect(self._worker_finished)

    def allow_close(self) -> bool:
        """Whether the window may close now; otherwise the close happens when the thread has ended."""
        if not self._worker.isRunning():
            return True
        if not self.confirmed:
            if self._worker.is_busy and not self._confirm():
                return False
            self.confirmed = True
            self._on_stopping()
            self._worker.stop()
        return False

    def _worker_finished(self) -> None:
        if self.confirmed:
            self._window.close()
