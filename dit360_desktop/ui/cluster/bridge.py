"""The app's link to a cluster: a QThread that runs the batch driver and emits plain values.

The driver runs in a child process (``cluster/child.py``): joining a cluster holds the GIL for most of a
second, which the window would feel. This thread starts that process when the user chose "Send queue to
cluster…" (never at start-up), relays its messages as signals, and passes on a stop. The child opens its
own Library on the app's library folder, saves each result as it lands, and sends the saved entry, which
the UI shows in the gallery. The thread never touches a widget.

A ``driver_factory`` runs the driver in this thread instead, for tests with a driver that needs no Ray.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QThread, Signal

from dit360_desktop.cluster import events as ev
from dit360_desktop.cluster.jobs import BatchJob

log = logging.getLogger(__name__)

# (options, library, on_event) -> an object with run(jobs) -> BatchSummary and cancel().
DriverFactory = Callable[[Any, Any, Callable[[Any], None]], Any]


# How long the child may take to stop after the run ended (it has sent its summary by then).
_CHILD_EXIT_S = 30.0
_POLL_S = 0.1


class ClusterBridge(QThread):
    worker_joined = Signal(str)  # worker label
    worker_refused = Signal(str, str)  # worker label, reason
    worker_lost = Signal(str, str)  # worker label, reason
    job_started = Signal(str, str)  # job id, worker label
    job_step = Signal(str, int, int)  # job id, step, total
    job_preview = Signal(str, object)  # job id, HxWx3 uint8 ndarray (reduced, at most one a second)
    job_saved = Signal(str, object)  # job id, history Entry
    job_failed = Signal(str, str, bool)  # job id, reason, retrying
    job_cancelled = Signal(str)
    cluster_lost = Signal(str, object)  # reason, tuple of unfinished job ids
    batch_failed = Signal(str)  # the run could not start (no Ray, unreachable address)
    batch_finished = Signal(object)  # BatchSummary

    def __init__(
        self,
        jobs: list[BatchJob],
        options: Any,
        library_dir: Path,
        *,
        driver_factory: DriverFactory | None = None,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("ClusterBridge")
        self.jobs = list(jobs)
        self.options = options
        self._library_dir = library_dir
        self._driver_factory = driver_factory
        self._lock = threading.Lock()
        self._driver: Any = None
        self._stop = threading.Event()

    def stop(self) -> None:
        """Cancel the queued cluster jobs and stop the running ones (within a step); follow with wait()."""
        with self._lock:
            self._stop.set()
            driver = self._driver
        if driver is not None:
            driver.cancel()

    def run(self) -> None:
        threading.current_thread().name = self.objectName()
        if self._driver_factory is None:
            self._run_child()
        else:
            self._run_here()

    def _run_child(self) -> None:
        import multiprocessing

        from dit360_desktop.cluster.child import CANCEL, run_driver

        context = multiprocessing.get_context("spawn")
        conn, child_conn = context.Pipe()
        process = context.Process(
            target=run_driver,
            args=(child_conn, self.jobs, self.options, str(self._library_dir)),
            name="dit360-cluster-driver",
            daemon=True,
        )
        process.start()
        child_conn.close()
        cancel_sent = False
        try:
            while True:
                if self._stop.is_set() and not cancel_sent:
                    conn.send(CANCEL)
                    cancel_sent = True
                if conn.poll(_POLL_S):
                    try:
                        kind, payload = conn.recv()
                    except EOFError:
                        kind, payload = "failed", None
                    if kind == "event":
                        self._relay(payload)
                        continue
                    if kind == "finished":
                        self.batch_finished.emit(payload)
                        return
                    self.batch_failed.emit(payload or _ended(process))
                    return
                if not process.is_alive():
                    self.batch_failed.emit(_ended(process))
                    return
        finally:
            conn.close()
            process.join(_CHILD_EXIT_S)
            if process.is_alive():
                log.warning("The cluster driver process did not exit; terminating it")
                process.terminate()
                process.join(5.0)

    def _run_here(self) -> None:
        from dit360_desktop.history.library import Library
        from dit360_desktop.panorama.errors import DiT360Error

        try:
            library = Library.open(self._library_dir)
        except DiT360Error as e:
            self.batch_failed.emit(str(e))
            return
        try:
            driver = self._driver_factory(self.options, library, self._relay)
            with self._lock:
                self._driver = driver
                stop = self._stop.is_set()
            if stop:
                driver.cancel()
            summary = driver.run(self.jobs)
        except DiT360Error as e:
            self.batch_failed.emit(str(e))
            return
        except Exception as e:
            log.exception("The cluster run failed")
            self.batch_failed.emit(f"The cluster run failed: {type(e).__name__}: {e}")
            return
        finally:
            library.close()
        self.batch_finished.emit(summary)

    def _relay(self, event: Any) -> None:
        if isinstance(event, ev.WorkerJoined):
            self.worker_joined.emit(event.worker.label)
        elif isinstance(event, ev.WorkerRefused):
            self.worker_refused.emit(event.worker.label, event.reason)
        elif isinstance(event, ev.WorkerLost):
            self.worker_lost.emit(event.worker.label, event.reason)
        elif isinstance(event, ev.JobStarted):
            self.job_started.emit(event.job_id, event.worker.label)
        elif isinstance(event, ev.JobStep):
            self.job_step.emit(event.job_id, event.step, event.total)
            if event.preview is not None:
                self.job_preview.emit(event.job_id, event.preview)
        elif isinstance(event, ev.JobSaved):
            self.job_saved.emit(event.job_id, event.entry)
        elif isinstance(event, ev.JobFailed):
            self.job_failed.emit(event.job_id, event.reason, event.retrying)
        elif isinstance(event, ev.JobCancelled):
            self.job_cancelled.emit(event.job_id)
        elif isinstance(event, ev.ClusterLost):
            self.cluster_lost.emit(event.reason, tuple(event.unfinished))


def _ended(process: Any) -> str:
    process.join(1.0)
    return f"The cluster driver process ended unexpectedly (exit code {process.exitcode})."
