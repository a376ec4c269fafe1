"""One helper for work that must not run on the UI thread (in the spirit of Anki's ``QueryOp``).

    BackgroundOp(panel, lambda ctx: library.rescan(), on_done).failure(on_error).run_in_background()

The op runs on a thread pool and never touches a widget; it may call ``ctx.report(value)`` (progress) and
check ``ctx.cancelled``. ``success``, ``failure`` and ``progress`` are called on the UI thread, and not at
all once the op was cancelled or its parent widget has been deleted. The generation worker and the model
manager keep their own long-lived threads; this is for the one-shot jobs (rescan, export, thumbnails,
the sample panorama).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

T = TypeVar("T")

# Ops in flight: keeps each op (and its relay) alive until its result has been delivered, whoever holds it.
_LIVE: set[BackgroundOp] = set()


class OpCancelled(Exception):
    """Raised by ``OpContext.raise_if_cancelled`` to end a cancelled op early."""


class OpContext:
    """What the op sees of its ``BackgroundOp``: progress reports and the cancel flag."""

    def __init__(self, relay: _Relay, cancelled: threading.Event) -> None:
        self._relay = relay
        self._cancelled = cancelled

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def raise_if_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise OpCancelled()

    def report(self, value: Any) -> None:
        """Hand ``value`` to the progress callback on the UI thread (queued; returns at once)."""
        if not self._cancelled.is_set():
            _deliver(self._relay.progress, value)


class _Relay(QObject):
    """Lives on the UI thread; its signals, emitted from the pool thread, reach its slots queued.

    It is a child of the application, so Qt owns it: the op and its relay form a reference cycle, and a
    Python-owned QObject in a cycle is deleted by whichever thread the garbage collector runs on (the
    pool thread, while the UI thread delivers its events). Once the result is delivered it is deleted
    with ``deleteLater``, on the UI thread.
    """

    succeeded = Signal(object)
    failed = Signal(object)
    progress = Signal(object)

    def __init__(self, op: BackgroundOp) -> None:
        super().__init__(QCoreApplication.instance())
        self._op = op
        self.succeeded.connect(self._succeeded)
        self.failed.connect(self._failed)
        self.progress.connect(self._progressed)

    @Slot(object)
    def _succeeded(self, result: Any) -> None:
        self._op._on_succeeded(result)

    @Slot(object)
    def _failed(self, error: Any) -> None:
        self._op._on_failed(error)

    @Slot(object)
    def _progressed(self, value: Any) -> None:
        self._op._on_progress(value)


class _Runnable(QRunnable):
    def __init__(self, op: BackgroundOp) -> None:
        super().__init__()
        self._op = op

    def run(self) -> None:
        self._op._execute()


class BackgroundOp(Generic[T]):
    def __init__(
        self,
        parent: QObject | None,
        op: Callable[[OpContext], T],
        success: Callable[[T], None] | None = None,
    ) -> None:
        self._parent = parent
        self._op = op
        self._success = success
        self._failure: Callable[[Exception], None] | None = None
        self._progress: Callable[[Any], None] | None = None
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._relay = _Relay(self)

    def failure(self, callback: Callable[[Exception], None]) -> BackgroundOp[T]:
        """Called with the exception the op raised; without one, failures are logged."""
        self._failure = callback
        return self

    def with_progress(self, callback: Callable[[Any], None]) -> BackgroundOp[T]:
        """Called with each value the op passes to ``ctx.report``."""
        self._progress = callback
        return self

    def run_in_background(self, pool: QThreadPool | None = None) -> BackgroundOp[T]:
        _LIVE.add(self)
        (pool or QThreadPool.globalInstance()).start(_Runnable(self))
        return self

    def cancel(self) -> None:
        """No callback runs after this; the op itself stops where it checks ``ctx.cancelled``."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the op has returned or raised (its callbacks may still be queued)."""
        return self._finished.wait(timeout)

    # ---- the pool thread ---------------------------------------------------------------------------

    def _execute(self) -> None:
        try:
            if self._cancel.is_set():
                raise OpCancelled()
            result = self._op(OpContext(self._relay, self._cancel))
        except OpCancelled:
            _deliver(self._relay.failed, None)
        except Exception as e:
            _deliver(self._relay.failed, e)
        else:
            _deliver(self._relay.succeeded, result)
        finally:
            self._finished.set()

    # ---- the UI thread -----------------------------------------------------------------------------

    def _alive(self) -> bool:
        return not self._cancel.is_set() and (self._parent is None or shiboken6.isValid(self._parent))

    def _on_progress(self, value: Any) -> None:
        if self._progress is not None and self._alive():
            self._progress(value)

    def _on_succeeded(self, result: T) -> None:
        _LIVE.discard(self)
        try:
            if self._success is not None and self._alive():
                self._success(result)
        finally:
            self._relay.deleteLater()

    def _on_failed(self, error: Exception | None) -> None:
        _LIVE.discard(self)
        try:
            if error is None or not self._alive():
                return
            if self._failure is None:
                log.error("Background operation failed", exc_info=error)
            else:
                self._failure(error)
        finally:
            self._relay.deleteLater()


def _deliver(signal: Any, value: Any) -> None:
    try:
        signal.emit(value)
    except RuntimeError:
        # The application is shutting down and has deleted the relay: nobody is left to tell.
        log.debug("Background operation finished after its relay was deleted")
