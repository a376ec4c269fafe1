"""Loading gallery thumbnails off the UI thread.

Requests go into a queue drained by at most two ``BackgroundOp``s on a private QThreadPool. A drain
waits a while for more requests before it ends, so a scroll pass starts it once, not once per screenful:
``QThreadPool.start`` costs the UI thread about 0.75 ms (it hands the GIL to the new run). A drain
regenerates the thumbnail file if it is missing (``Library.ensure_thumbnail``, no database access),
decodes it into a QImage (thread-safe, unlike QPixmap) at the tile's size with its rounded corners, draws
the whole card around it (``tile.make_card``: text, badges) and reports each card as progress, which
arrives on the UI thread. The newest requests run first and only
a bounded number wait, so fast scrolling through 10,000 items never builds a backlog.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QRectF, QSize, Qt, QThread, QThreadPool, Signal
from PySide6.QtGui import QImage, QImageReader, QPainter, QPainterPath

from dit360_desktop.history.entry import Entry
from dit360_desktop.panorama.errors import DiT360Error
from dit360_desktop.ui.gallery.tile import RADIUS, TileStyle, make_card, shown_fields
from dit360_desktop.ui.widgets.background import BackgroundOp, OpContext

log = logging.getLogger(__name__)

# Requests beyond this many still waiting are dropped, oldest first (they scrolled out of view).
MAX_WAITING = 96
# How long an idle drain waits for the next request before its pool thread is handed back.
LINGER_S = 2.0


def tile_image(source: QImage, size: QSize, radius: float) -> QImage:
    """``source`` scaled to cover ``size`` (centred crop for a non-2:1 image) with rounded corners.

    QPainter on a QImage is safe off the UI thread (QPixmap is not).
    """
    tile = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
    tile.fill(Qt.GlobalColor.transparent)
    target = QRectF(tile.rect())
    scale = max(size.width() / max(1, source.width()), size.height() / max(1, source.height()))
    crop_w, crop_h = size.width() / scale, size.height() / scale
    crop = QRectF((source.width() - crop_w) / 2, (source.height() - crop_h) / 2, crop_w, crop_h)
    painter = QPainter(tile)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        clip = QPainterPath()
        clip.addRoundedRect(target, radius, radius)
        painter.setClipPath(clip)
        painter.drawImage(target, source, crop)
    finally:
        painter.end()
    return tile


def load_tile(path: Path, size: QSize, radius: float) -> QImage:
    """Decode a thumbnail file straight into a finished tile; a null QImage if it cannot be read."""
    reader = QImageReader(str(path))
    # JPEG can decode straight at a smaller scale: ask for about the tile size, never more than the file.
    source = reader.size()
    if source.isValid() and (source.width() > size.width() or source.height() > size.height()):
        reader.setScaledSize(source.scaled(size, Qt.AspectRatioMode.KeepAspectRatioByExpanding))
    image = reader.read()
    if image.isNull():
        log.warning("Cannot decode the thumbnail %s: %s", path, reader.errorString())
        return image
    return tile_image(image, size, radius)


class ThumbnailLoader(QObject):
    """``request(entry)``; answers with ``loaded(id, card, stamp)`` or ``failed(id, message)``.

    ``stamp`` is what the card was drawn from (the entry's shown fields and the style's key): a card whose
    stamp no longer matches is stale.
    """

    loaded = Signal(int, QImage, object)
    failed = Signal(int, str)

    def __init__(
        self, ensure: Callable[[Entry], Path], style: TileStyle, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._ensure = ensure
        self._style = style
        self._pool = QThreadPool(self)
        # At most two threads, and always a core left for the UI thread: JPEG decoding is quick, and the
        # machine may be running the diffusion model at the same time.
        self._threads = max(1, min(2, QThread.idealThreadCount() - 1))
        self._pool.setMaxThreadCount(self._threads)
        self._pool.setThreadPriority(QThread.Priority.LowPriority)
        # Shared with the workers, under the lock. Queued requests in order (newest last); ids being decoded.
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: OrderedDict[int, Entry] = OrderedDict()
        self._decoding: set[int] = set()
        self._workers = 0
        self._idle_workers = 0
        self._busy = 0
        self._stopping = False
        # How many drains were started (a test counts them).
        self.starts = 0

    def set_style(self, style: TileStyle) -> None:
        """Cards requested from now on are drawn in ``style``."""
        with self._lock:
            self._style = style

    @property
    def style(self) -> TileStyle:
        return self._style

    def request(self, entry: Entry) -> None:
        with self._lock:
            if entry.id in self._decoding:
                return
            self._queue[entry.id] = entry
            self._queue.move_to_end(entry.id)
            while len(self._queue) > MAX_WAITING:
                self._queue.popitem(last=False)
            if self._idle_workers:
                # A lingering drain takes it: no pool start on the UI thread.
                self._wake.notify()
                return
            # One pool start per worker, not per thumbnail: each start hands the GIL to a new thread.
            start = self._workers < self._threads and not self._stopping
            if start:
                self._workers += 1
                self.starts += 1
        if start:
            BackgroundOp(self, self._drain).with_progress(self._on_tile).run_in_background(self._pool)

    def is_pending(self, entry_id: int) -> bool:
        with self._lock:
            return entry_id in self._queue or entry_id in self._decoding

    def wait_idle(self, timeout_ms: int = 5000) -> bool:
        """Block until every request made so far is decoded (its report may still be queued)."""
        deadline = time.monotonic() + timeout_ms / 1000
        while time.monotonic() < deadline:
            with self._lock:
                if not self._queue and not self._busy:
                    return True
            time.sleep(0.005)
        return False

    def shutdown(self) -> None:
        with self._lock:
            self._queue.clear()
            self._stopping = True
            self._wake.notify_all()
        self._pool.waitForDone(5000)

    def _drain(self, ctx: OpContext) -> None:
        """On a pool thread: make tiles, newest request first, until no request came for LINGER_S."""
        while True:
            job = self._next_job()
            if job is None:
                return
            try:
                ctx.report(self._make_tile(*job))
            finally:
                with self._lock:
                    self._busy -= 1

    def _make_tile(self, entry: Entry, style: TileStyle) -> tuple[int, QImage | None, object]:
        try:
            path = self._ensure(entry)
            image = load_tile(path, style.thumb_device_size, RADIUS * style.ratio)
        except (DiT360Error, OSError) as e:
            return entry.id, None, str(e)
        if image.isNull():
            return entry.id, None, f"{path} could not be decoded"
        image.setDevicePixelRatio(style.ratio)
        # The finished card is made here; the UI thread only blits it.
        return entry.id, make_card(style, entry, image), (shown_fields(entry), style.key)

    def _on_tile(self, report: tuple[int, QImage | None, object]) -> None:
        entry_id, image, stamp = report
        self._done(entry_id)
        if image is None:
            log.warning("No thumbnail for entry %d: %s", entry_id, stamp)
            self.failed.emit(entry_id, str(stamp))
        else:
            self.loaded.emit(entry_id, image, stamp)

    def _next_job(self) -> tuple[Entry, TileStyle] | None:
        """Called by workers: the newest waiting request (what is on screen now), or None to stop."""
        with self._lock:
            if not self._queue and not self._stopping:
                self._idle_workers += 1
                self._wake.wait(LINGER_S)
                self._idle_workers -= 1
            if not self._queue or self._stopping:
                self._workers -= 1
                return None
            entry_id, entry = self._queue.popitem(last=True)
            self._decoding.add(entry_id)
            self._busy += 1
            return entry, self._style

    def _done(self, entry_id: int) -> None:
        with self._lock:
            self._decoding.discard(entry_id)
