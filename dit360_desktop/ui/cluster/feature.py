"""Generate → "Send queue to cluster…": the waiting jobs leave the local queue and run on a Ray cluster.

``ClusterFeature(context)`` adds the menu entry and a "Cluster" dock next to the queue. Nothing from
``dit360_desktop.cluster`` (and so no Ray) is imported until the user sends a queue. Results land in the
gallery as they are saved; when the cluster goes away, the unfinished jobs go back to the local queue.
"""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QDockWidget, QMessageBox

from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.ui.cluster.panel import ClusterPanel
from dit360_desktop.ui.common.context import AppContext

if TYPE_CHECKING:
    from dit360_desktop.ui.cluster.dialog import ClusterChoice

log = logging.getLogger(__name__)

# How long a quit waits for running cluster jobs to stop (they stop within a step) before it gives up.
_SHUTDOWN_WAIT_MS = 60_000


class ClusterFeature(QObject):
    def __init__(self, context: AppContext, *, driver_factory: Any = None) -> None:
        super().__init__(context.parent)
        self.context = context
        self._driver_factory = driver_factory
        self.bridge: Any = None
        self.requests: dict[str, GenerationRequest] = {}
        self._finished: set[str] = set()
        # The last sentence shown to the user about the run (tests read it; the status bar shows it).
        self.last_notice = ""
        self.panel = ClusterPanel()
        self.panel.stop_requested.connect(self.stop)
        self.dock = QDockWidget("Cluster", context.parent)
        self.dock.setObjectName("ClusterDock")
        self.dock.setWidget(self.panel)
        context.docks.add_dock(self.dock)
        self.action = QAction("Send queue to &cluster…", context.parent)
        self.action.setObjectName("SendQueueToCluster")
        self.action.setToolTip("Run the waiting generations on a Ray cluster; results land in the history.")
        self.action.triggered.connect(lambda: self.send_queue())
        context.menus.generate.addSeparator()
        context.menus.generate.addAction(self.action)
        context.menus.view.addAction(self.dock.toggleViewAction())
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    @property
    def running(self) -> bool:
        return self.bridge is not None and self.bridge.isRunning()

    def send_queue(self, choice: ClusterChoice | None = None) -> bool:
        """Send the waiting jobs; ``choice`` skips the dialog. False when nothing was sent."""
        if self.running:
            return self._notice("A cluster run is already in progress; stop it first.")
        from dit360_desktop.cluster.connect import ray_installed
        from dit360_desktop.cluster.errors import EXTRA_HINT

        if not ray_installed():
            return self._notice(f"Sending the queue to a cluster needs Ray. {EXTRA_HINT}", dialog=True)
        waiting = self.context.jobs.waiting()
        if not waiting:
            return self._notice("The queue has no waiting jobs to send (Ctrl+Shift+Enter queues variations).")
        if choice is None:
            from dit360_desktop.ui.cluster.dialog import SendToClusterDialog  # not needed at start-up

            dialog = SendToClusterDialog(
                self.context.settings.cluster_address, len(waiting), self.context.parent
            )
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return False
            choice = dialog.choice()
        self.context.settings.cluster_address = choice.address
        jobs = self._take_jobs(waiting)
        if jobs is None:
            return False
        self._start(jobs, choice)
        return True

    def _take_jobs(self, waiting: list) -> list | None:
        from dit360_desktop.cluster.jobs import BatchJob, read_job_files
        from dit360_desktop.panorama.errors import DiT360Error

        jobs: list[BatchJob] = []
        cache: dict[Path, bytes] = {}
        for info in waiting:
            try:
                # Image files (init image, edit mask) travel as bytes: the workers cannot see this disk.
                request, files = read_job_files(info.request, Path.cwd(), cache)
            except DiT360Error as e:
                self._notice(f"The queue was not sent: {e}", dialog=True)
                return None
            jobs.append((info.job_id, BatchJob(uuid.uuid4().hex[:16], request, files)))
        taken = []
        for local_id, job in jobs:
            # A job that started locally meanwhile stays local.
            if self.context.jobs.remove(local_id):
                taken.append(job)
        return taken

    def _start(self, jobs: list, choice: ClusterChoice) -> None:
        from dit360_desktop.cluster.driver import ClusterOptions
        from dit360_desktop.cluster.worker_models import ModelSource
        from dit360_desktop.panorama.options import EngineOptions
        from dit360_desktop.ui.cluster.bridge import ClusterBridge

        options = ClusterOptions(
            address=choice.address,
            model=ModelSource(
                model_dir=choice.model_dir or None,
                fetch=choice.fetch_models,
                # The workers build their engines as this app builds its own.
                engine_options=EngineOptions.from_settings(self.context.settings),
            ),
            retries=choice.retries,
        )
        self.requests = {job.job_id: job.request for job in jobs}
        self._finished = set()
        bridge = ClusterBridge(
            jobs,
            options,
            self.context.library_dir,
            driver_factory=self._driver_factory,
            parent=self,
        )
        bridge.worker_joined.connect(self._worker_joined)
        bridge.worker_refused.connect(lambda label, why: self._worker_gone(label, f"refuses jobs: {why}"))
        bridge.worker_lost.connect(lambda label, why: self._worker_gone(label, f"lost: {why}"))
        bridge.job_started.connect(
            lambda job_id, worker: self.panel.update_job(job_id, state="running", worker=worker)
        )
        bridge.job_step.connect(
            lambda job_id, step, total: self.panel.update_job(job_id, step=step, total=total)
        )
        bridge.job_preview.connect(self.panel.set_preview)
        bridge.job_saved.connect(self._job_saved)
        bridge.job_failed.connect(self._job_failed)
        bridge.job_cancelled.connect(lambda job_id: self._end_job(job_id, "cancelled"))
        bridge.cluster_lost.connect(self._cluster_lost)
        bridge.batch_failed.connect(self._batch_failed)
        bridge.batch_finished.connect(self._batch_finished)
        self.bridge = bridge
        self.panel.start(choice.address, [(job.job_id, job.request) for job in jobs])
        self.dock.show()
        self.dock.raise_()
        bridge.start()

    def stop(self) -> None:
        if self.bridge is not None:
            self.bridge.stop()

    def shutdown(self) -> None:
        """Stop the cluster run and wait for it (results already saved stay saved)."""
        if self.bridge is not None and self.bridge.isRunning():
            self.bridge.stop()
            if not self.bridge.wait(_SHUTDOWN_WAIT_MS):
                log.warning("The cluster run did not stop within %d s", _SHUTDOWN_WAIT_MS // 1000)

    # ---- reports from the bridge (UI thread) ---------------------------------------------------------

    def _worker_joined(self, label: str) -> None:
        self.panel.worker_joined(label)

    def _worker_gone(self, label: str, why: str) -> None:
        self.panel.worker_gone(label)
        self.context.status.show_message(f"Cluster worker {label} {why}", 8000)

    def _job_saved(self, job_id: str, entry: Any) -> None:
        self._end_job(job_id, "done")
        self.context.history.add_entry(entry)

    def _job_failed(self, job_id: str, reason: str, retrying: bool) -> None:
        if retrying:
            row = self.panel.row(job_id)
            self.panel.update_job(job_id, state="waiting", worker=row.worker if row else "", step=0, total=0)
        else:
            self._end_job(job_id, "failed", detail=reason)

    def _end_job(self, job_id: str, state: str, detail: str = "") -> None:
        self._finished.add(job_id)
        self.panel.update_job(job_id, state=state, detail=detail)

    def _cluster_lost(self, reason: str, unfinished: tuple) -> None:
        count = self._return_to_local_queue(list(unfinished))
        self._notice(
            f"The cluster went away ({reason}). {count} unfinished job(s) are back in the local queue."
        )

    def _batch_failed(self, reason: str) -> None:
        count = self._return_to_local_queue([j for j in self.requests if j not in self._finished])
        self.panel.finish(reason)
        self._notice(f"{reason} {count} job(s) are back in the local queue.", dialog=True)

    def _batch_finished(self, summary: Any) -> None:
        counts = summary.counts()
        text = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
        self.panel.finish(f"Cluster run finished: {text or 'nothing to do'}.")

    def _return_to_local_queue(self, job_ids: list[str]) -> int:
        requests = [self.requests[j] for j in job_ids if j in self.requests and j not in self._finished]
        for job_id in job_ids:
            self._end_job(job_id, "back in the local queue")
        if requests:
            self.context.jobs.enqueue_many(requests)
        return len(requests)

    def _notice(self, text: str, *, dialog: bool = False) -> bool:
        self.last_notice = text
        self.context.status.show_message(text, 12000)
        if dialog:
            box = QMessageBox(QMessageBox.Icon.Warning, "Cluster", text, parent=self.context.parent)
            box.open()
        return False
