"""Python's cyclic garbage collector runs on the UI thread only.

CPython runs a collection on whichever thread happens to allocate when the counts pass their thresholds,
and PySide6 deletes a widget whose Python wrapper is collected right there, on that thread. A dialog left
in a reference cycle (a widget holding a bound method of its parent, a lambda over ``self``) is such
garbage; an export thread that allocated at the wrong moment then destroyed the export dialog off the UI
thread while the event loop used it, and the app died with a general protection fault in
``QtWidgets.abi3.so`` (issue 21, item 1: a failed JPEG export, a cube map, then an EXR export).

So the automatic collector is switched off, and a timer on the UI thread runs the same generational
collections the interpreter would (the same thresholds, read with ``gc.get_count``), a few times a
second. Reference counting still frees everything that is not in a cycle at once, on any thread; only
cycles wait for the next tick. The interpreter also holds back a full collection until the objects that
survived into the oldest generation have grown by a quarter, a count Python does not expose; full
collections are spaced by ``FULL_COLLECTION_SPACING_S`` instead.

A collection holds the GIL for as long as it traverses, and what it traverses is mostly what imports made:
with torch, diffusers and transformers in, a full pass took 180-300 ms, and the first young pass after the
generation thread's import (hundreds of thousands of objects, none collected while it ran) as long (issue
21 item 12). Module-level objects live as long as the app, so when imports have added
``FREEZE_AFTER_MODULES`` modules since the last look, everything tracked so far is frozen (``gc.freeze``:
moved to a generation no collection visits) before collecting. Later passes see only what came since. The
price: a reference cycle that was already garbage at that moment is never freed (import-time leftovers,
small); cycles made afterwards, dialogs included, are collected as before.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger(__name__)

INTERVAL_MS = 250
FULL_COLLECTION_SPACING_S = 10.0
# New modules since the last freeze that make the next tick freeze first (numpy alone brings ~100).
FREEZE_AFTER_MODULES = 50


class UiThreadGarbageCollector(QObject):
    def __init__(self, parent: QObject, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.thread_id = threading.get_ident()
        self.collections = 0
        self.freezes = 0
        self._last_full = time.monotonic()
        self._modules_seen = len(sys.modules)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        gc.disable()
        self._timer.start()

    def check(self) -> None:
        """Collect the generations whose counts passed their thresholds, as the interpreter would."""
        modules = len(sys.modules)
        if modules - self._modules_seen >= FREEZE_AFTER_MODULES:
            self._modules_seen = modules
            gc.freeze()
            self.freezes += 1
            # Not gc.get_freeze_count(): it walks every frozen object (a million with torch in).
            log.debug("Tracked objects frozen after imports (%d modules)", modules)
            return
        threshold0, threshold1, threshold2 = gc.get_threshold()
        count0, count1, count2 = gc.get_count()
        if count0 <= threshold0:
            return
        generation = 0
        if count1 > threshold1:
            generation = 1
            if count2 > threshold2 and time.monotonic() - self._last_full >= FULL_COLLECTION_SPACING_S:
                generation = 2
                self._last_full = time.monotonic()
        gc.collect(generation)
        self.collections += 1

    def stop(self) -> None:
        """Give collection back to the interpreter (the app is quitting, or a test is done)."""
        self._timer.stop()
        gc.enable()


def collect_on_ui_thread(app: QObject) -> UiThreadGarbageCollector:
    """Install the collector on ``app``'s (the UI) thread; call it right after the QApplication is made."""
    collector = UiThreadGarbageCollector(app)
    log.debug("Cyclic garbage collection runs on the UI thread every %d ms", INTERVAL_MS)
    return collector
