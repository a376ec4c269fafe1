"""The app's link to a cluster: a QThread that runs the batch driver and emits plain values.

Ray and the driver are imported inside the thread, after the user chose "Send queue to cluster…", never
at start-up. The thread opens its own Library on the app's library folder (SQLite connections belong to
the thread that opened them, as with the generation worker), saves each result as it lands, and hands
the saved entry to the UI, which shows it in the gallery. It never touches a widget.
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


def default_driver_factory(options: Any, library: Any, on_event: Callable[[Any], None]) -> Any:
    from dit360_desktop.cluster.driver import BatchDriver

    return BatchDriver(options, library, on_event=on_event)


class ClusterBridge(QThread):
    worker_joined = Signal(str)  # worker label
    worker_refused = Signal(str, str)  # worker label, reason
    worker_lost = Signal(str, str)  # worker label, reason
    job_started = Signal(str, str)  # job id, worker label
    job_step = Signal(str, int, int)  # job id, step, total
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
        driver_factory: DriverFactory = default_driver_factory,
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
        self._stop_requested = False

    def stop(self) -> None:
        """Cancel the queued cluster jobs and stop the running ones (within a step); follow with wait()."""
        with self._lock:
            self._stop_requested = True
            driver = self._driver
        if driver is not None:
            driver.cancel()

    def run(self) -> None:
        threading.current_thread().name = self.objectName()
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
                stop = self._stop_requested
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
        elif isinstance(event, ev.JobSaved):
            self.job_saved.emit(event.job_id, event.entry)
        elif isinstance(event, ev.JobFailed):
            self.job_failed.emit(event.job_id, event.reason, event.retrying)
        elif isinstance(event, ev.JobCancelled):
            self.job_cancelled.emit(event.job_id)
        elif isinstance(event, ev.ClusterLost):
            self.cluster_lost.emit(event.reason, tuple(event.unfinished))
