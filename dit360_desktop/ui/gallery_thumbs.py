"""Loading gallery thumbnails off the UI thread.

Each request becomes a QRunnable on a private QThreadPool: it regenerates the thumbnail file if it is
missing (``Library.ensure_thumbnail``, no database access), reads it into a QImage (thread-safe, unlike
QPixmap) scaled to the tile, and reports back through a queued signal. The newest requests run first and
only a bounded number wait, so fast scrolling through 10,000 items never builds a backlog.
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QImage, QImageReader

from dit360_desktop.core.errors import DiT360Error
from dit360_desktop.history.entry import Entry

log = logging.getLogger(__name__)

# Requests beyond this many still waiting are dropped, oldest first (they scrolled out of view).
MAX_WAITING = 96


class _Signals(QObject):
    loaded = Signal(int, QImage)
    failed = Signal(int, str)


class _LoadThumbnail(QRunnable):
    def __init__(self, entry: Entry, size: QSize, ensure: Callable[[Entry], Path], signals: _Signals) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self._entry = entry
        self._size = size
        self._ensure = ensure
        self._signals = signals

    def run(self) -> None:
        entry_id = self._entry.id
        try:
            path = self._ensure(self._entry)
        except (DiT360Error, OSError) as e:
            self._signals.failed.emit(entry_id, str(e))
            return
        reader = QImageReader(str(path))
        # JPEG can decode straight at a smaller scale: ask for the tile size (never larger than the file).
        source = reader.size()
        if source.isValid() and (
            source.width() > self._size.width() or source.height() > self._size.height()
        ):
            reader.setScaledSize(source.scaled(self._size, Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
        if image.isNull():
            self._signals.failed.emit(entry_id, f"{path}: {reader.errorString()}")
            return
        self._signals.loaded.emit(entry_id, image)


class ThumbnailLoader(QObject):
    """``request(entry)``; answers with ``loaded(id, QImage)`` or ``failed(id, message)``."""

    loaded = Signal(int, QImage)
    failed = Signal(int, str)

    def __init__(self, ensure: Callable[[Entry], Path], size: QSize, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ensure = ensure
        self._size = QSize(size)
        self._pool = QThreadPool(self)
        # Two threads: JPEG decoding is quick, and the machine is also running the diffusion model.
        self._pool.setMaxThreadCount(2)
        self._signals = _Signals(self)
        self._signals.loaded.connect(self._on_loaded)
        self._signals.failed.connect(self._on_failed)
        self._waiting: OrderedDict[int, _LoadThumbnail] = OrderedDict()
        self._running: dict[int, _LoadThumbnail] = {}
        self._priority = itertools.count()

    def set_size(self, size: QSize) -> None:
        self._size = QSize(size)

    def request(self, entry: Entry) -> None:
        if entry.id in self._running:
            return
        job = self._waiting.pop(entry.id, None)
        if job is not None and not self._pool.tryTake(job):
            # It is already decoding; it will report.
            self._running[entry.id] = job
            return
        job = _LoadThumbnail(entry, self._size, self._ensure, self._signals)
        self._waiting[entry.id] = job
        # Later requests (what is on screen now) get a higher priority than earlier ones.
        self._pool.start(job, min(next(self._priority), 2**31 - 1))
        while len(self._waiting) > MAX_WAITING:
            old_id, old_job = self._waiting.popitem(last=False)
            if not self._pool.tryTake(old_job):
                # Already started: it will report; keep a reference until it does.
                self._running[old_id] = old_job

    def is_pending(self, entry_id: int) -> bool:
        return entry_id in self._waiting or entry_id in self._running

    def wait_idle(self, timeout_ms: int = 5000) -> bool:
        return self._pool.waitForDone(timeout_ms)

    def shutdown(self) -> None:
        self._pool.clear()
        self._waiting.clear()
        self._pool.waitForDone(5000)

    def _finish(self, entry_id: int) -> None:
        self._waiting.pop(entry_id, None)
        self._running.pop(entry_id, None)

    def _on_loaded(self, entry_id: int, image: QImage) -> None:
        self._finish(entry_id)
        self.loaded.emit(entry_id, image)

    def _on_failed(self, entry_id: int, message: str) -> None:
        self._finish(entry_id)
        log.warning("No thumbnail for entry %d: %s", entry_id, message)
        self.failed.emit(entry_id, message)
