"""What the window does between its first frame and idle, without a UI-thread gap over 50 ms.

After the first frame there is a lot to do: numpy, Pillow and PyOpenGL to import (PyOpenGL alone takes
0.4–0.7 s, and the viewer's first ``initializeGL`` needs it), the editing panels and the history gallery
to build, the sample panorama, the single-instance server, and the generation thread, which imports
torch. Done in a row on the UI thread they froze the window for about a second (issue 21, item 12).

So the imports run first, on a thread of their own (``PRELOAD_MODULES``): CPython hands the GIL back to the
UI thread every switch interval (1 ms, ``worker.tune_thread_switching``), so the window keeps painting.
Only when they are done does the UI thread take its steps, one per event-loop turn with a short pause
between them: each step is small, and every module it needs is already imported (a UI thread importing a
module another thread is importing would wait for it). The generation thread, and with it the torch
import, starts last, after the steps: torch imports numpy and Pillow too, and would hold their import
locks while the steps need them.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer, Signal

log = logging.getLogger(__name__)

# Imported off the UI thread after the first frame, in this order (what the first steps need first).
PRELOAD_MODULES = (
    "numpy",
    "OpenGL.GL",
    # The viewer's first initializeGL imports these (and gl_entry_points every module that calls GL).
    "dit360_desktop.ui.viewer.gl_renderer",
    "dit360_desktop.ui.viewer.gl_upload_thread",
    "dit360_desktop.ui.viewer.gl_mesh",
    "PIL.Image",
    "dit360_desktop.panorama.projection",
    "dit360_desktop.panorama.imageio",
    "dit360_desktop.ui.editing.feature",
    "dit360_desktop.ui.editing.controller",
    "dit360_desktop.ui.editing.panel",
    "dit360_desktop.ui.editing.placement",
    "dit360_desktop.history.library",
    "dit360_desktop.ui.gallery.panel",
    "dit360_desktop.ui.gallery.export_dialog",
    "dit360_desktop.ui.gallery.repair_action",
    "dit360_desktop.ui.gallery.upscale_action",
    "PySide6.QtNetwork",
)
# The pause between two UI-thread steps: input and paint events queued meanwhile run in it.
STEP_PAUSE_MS = 15


def preload_imports(
    modules: tuple[str, ...] = PRELOAD_MODULES, numpy_import: Callable[[], None] | None = None
) -> None:
    """Import ``modules`` (on the calling thread); a module that fails is logged and left to its user."""
    started = time.perf_counter()
    for name in modules:
        try:
            if name == "numpy" and numpy_import is not None:
                numpy_import()
            else:
                importlib.import_module(name)
        except Exception as e:  # an optional module (PyOpenGL missing): its user reports it properly
            log.info("Start-up preload: %s not imported (%s)", name, e)
    log.info("Start-up modules imported in the background in %.2f s", time.perf_counter() - started)


class StartupSequence(QObject):
    """``add(name, step)`` the UI-thread steps, then ``start()`` once the window is on screen."""

    # Emitted on the UI thread when the background imports are done; then when the last step has run.
    imported = Signal()
    finished = Signal()

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._steps: deque[tuple[str, Callable[[], None]]] = deque()
        # How numpy is imported (the app keeps OpenBLAS to one thread: app.import_numpy_with_one_blas_thread).
        self.numpy_import: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None
        self.done = False
        self.imported.connect(self._next)

    def add(self, name: str, step: Callable[[], None]) -> None:
        self._steps.append((name, step))

    @property
    def started(self) -> bool:
        """True once ``start`` has begun the background imports."""
        return self._thread is not None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._import, name="StartupImports", daemon=True)
        self._thread.start()

    def _import(self) -> None:
        preload_imports(numpy_import=self.numpy_import)
        # A queued signal: _next runs on the UI thread. A window closed within the first second is gone.
        if shiboken6.isValid(self):
            try:
                self.imported.emit()
            except RuntimeError:
                log.debug("The window closed before its start-up imports were done")

    def _next(self) -> None:
        if not self._steps:
            self.done = True
            self.finished.emit()
            return
        name, step = self._steps.popleft()
        started = time.perf_counter()
        try:
            step()
        except Exception:
            log.exception("Start-up step %r failed", name)
        spent = (time.perf_counter() - started) * 1000
        log.debug("Start-up step %s took %.0f ms", name, spent)
        QTimer.singleShot(STEP_PAUSE_MS, self._next)


class QuietStart(QObject):
    """Runs ``start`` once, when ``ready()`` holds and the person has not touched the app for ``pause_s``.

    For the generation thread's import of torch, diffusers, transformers and PEFT (issue 21 items 7 and
    12). Much of it is C code that holds the GIL for up to a few hundred ms at a time (torch's extension
    module initialises in one call), which no switch interval can split: wherever it runs, the window
    cannot react meanwhile. Started right after the start-up steps, that fell on the first seconds in
    which the artist looks around and clicks. So it waits for the gallery (``ready``) and for a pause in
    the keyboard and mouse; queueing a job starts it at once anyway (MainWindow._before_enqueue), with
    the first job's "Loading model libraries" note. ``give_up_s`` after it was made it starts whatever
    the input does, so the libraries are in before the first job on a busy first minute too.
    """

    INPUT_EVENTS = frozenset(
        {
            QEvent.Type.KeyPress,
            QEvent.Type.MouseButtonPress,
            QEvent.Type.MouseMove,
            QEvent.Type.Wheel,
            QEvent.Type.TouchBegin,
        }
    )

    def __init__(
        self,
        parent: QObject,
        start: Callable[[], None],
        ready: Callable[[], bool],
        pause_s: float = 1.0,
        give_up_s: float = 30.0,
    ) -> None:
        super().__init__(parent)
        self._start = start
        self._ready = ready
        self._pause_s = pause_s
        self._give_up_at = time.monotonic() + give_up_s
        self.started = False
        self.last_input = time.monotonic()
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._check)
        self._watching = False
        self._timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in self.INPUT_EVENTS:
            self.last_input = time.monotonic()
        return False

    def _check(self) -> None:
        now = time.monotonic()
        if now >= self._give_up_at:
            self.fire()
        elif not self._ready():
            return
        elif self._pause_s <= 0:
            self.fire()
        elif not self._watching:
            # The input is watched from here on, not from start-up: an application-wide filter is a Python
            # call for every event, 1,600 of them while the gallery alone was built (about 10 ms of it).
            # The pause is counted from now, as the person's input before this was not seen.
            self._watching = True
            self.last_input = now
            app = QCoreApplication.instance()
            if app is not None:
                app.installEventFilter(self)
        elif now - self.last_input >= self._pause_s:
            self.fire()

    def fire(self) -> None:
        if self.started:
            return
        self.started = True
        self._timer.stop()
        app = QCoreApplication.instance()
        if app is not None and self._watching:
            app.removeEventFilter(self)
        self._start()


class IdleProbe(QObject):
    """Records the UI thread's gaps from the first frame to idle and writes them to ``target`` (JSON).

    A 5 ms timer on the UI thread notes when it runs; a gap between two ticks is how long the window could
    not react. Idle is: every start-up step done, the generation thread's preload done (when it runs),
    and then ``settle_s`` more. tests/benchmarks/startup_time.py (--idle) reads the file.
    """

    def __init__(self, window, target: str, on_done: Callable[[], None], settle_s: float = 1.0) -> None:
        from PySide6.QtCore import Qt

        super().__init__(window)
        self._target = target
        self._on_done = on_done
        self._settle_s = settle_s
        self._ticks: list[float] = []
        self._started = time.perf_counter()
        self._startup_done_s: float | None = None
        self._worker_done = not getattr(window, "_start_worker", False)
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(5)
        self._timer.timeout.connect(self._tick)
        window.first_exposed.connect(self._timer.start)
        window.startup.finished.connect(self._startup_finished)
        window.worker.preload_finished.connect(self._worker_finished)

    def _startup_finished(self) -> None:
        self._startup_done_s = time.perf_counter() - self._started

    def _worker_finished(self) -> None:
        self._worker_done = True

    def _tick(self) -> None:
        now = time.perf_counter()
        self._ticks.append(now)
        if self._startup_done_s is None or not self._worker_done:
            return
        if not hasattr(self, "_idle_at"):
            self._idle_at = now
        elif now - self._idle_at >= self._settle_s:
            self._timer.stop()
            self._write()
            self._on_done()

    def _write(self) -> None:
        import json
        from itertools import pairwise
        from pathlib import Path

        gaps = [(b - a) * 1000 for a, b in pairwise(self._ticks)]
        worst = max(range(len(gaps)), key=gaps.__getitem__, default=None)
        payload = {
            "max_gap_ms": max(gaps, default=0.0),
            # When the longest gap began, in seconds after the first frame: which start-up step it was.
            "max_gap_at_s": None if worst is None else self._ticks[worst] - self._ticks[0],
            "gaps_over_50ms": sum(1 for g in gaps if g > 50),
            "ticks": len(self._ticks),
            "startup_steps_done_s": self._startup_done_s,
            "idle_s": time.perf_counter() - self._started,
            "torch_imported": "torch" in __import__("sys").modules,
        }
        Path(self._target).write_text(json.dumps(payload), encoding="utf-8")
