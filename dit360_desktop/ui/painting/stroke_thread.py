"""Brush strokes rasterised on a background thread, so a pointer move never waits for the brush.

A small brush segment costs well under a millisecond, but a 30° brush on an 8192×4096 mask touches
millions of pixels (every column of the polar rows near a pole) and takes hundreds of milliseconds on a
laptop CPU. The UI thread only queues the pointer's directions; this thread paints them in order into
the ``MaskModel`` (numpy releases the GIL in its large loops, so the UI keeps running). The model's
listeners are then called on this thread: the Qt layer relays them with a queued signal.

Anything else that reads or changes the mask (undo, invert, import, export, building a request) calls
``flush()`` first, which waits until every queued segment is painted.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

import numpy as np

from dit360_desktop.ui.painting.brush import Brush
from dit360_desktop.ui.painting.mask_model import MaskModel

log = logging.getLogger(__name__)

_STOP = ("stop",)


class StrokePainter:
    """Queues stroke commands for one ``MaskModel`` and paints them on a daemon thread, in order."""

    def __init__(self, model: MaskModel) -> None:
        self.model = model
        self._queue: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="MaskBrush", daemon=True)
        self._thread.start()

    def begin(self, direction: np.ndarray, brush: Brush) -> None:
        self._queue.put(("begin", np.array(direction, dtype=np.float64), brush))

    def move(self, direction: np.ndarray) -> None:
        self._queue.put(("move", np.array(direction, dtype=np.float64)))

    def end(self) -> None:
        self._queue.put(("end",))

    def flush(self) -> None:
        """Wait until every queued command has been painted."""
        self._queue.join()

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        """Finish what is queued and end the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _run(self) -> None:
        while True:
            command = self._queue.get()
            try:
                if command is _STOP:
                    return
                name = command[0]
                if name == "begin":
                    self.model.begin_stroke(command[1], command[2])
                elif name == "move":
                    self.model.continue_stroke(command[1])
                elif name == "end":
                    self.model.end_stroke()
            except Exception:
                # A bad direction (a zero vector from a degenerate event) must not kill the brush.
                log.exception("The mask brush could not paint a stroke segment")
            finally:
                self._queue.task_done()
