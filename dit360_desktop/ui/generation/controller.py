"""Generation, wired: the form's requests go on the worker's queue, the worker's reports go to the panels.

The controller builds requests only from the form (``GenerationForm.request_for_run``) and shows what the
worker reports in the progress line, the queue and the status bar. What the window does with a result or a
preview (the viewer, the gallery, a dialog) reaches it through this object's signals.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.events import Stage, StageEvent, StepEvent
from dit360_desktop.panorama.request import MAX_SEED, GenerationRequest
from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.common.jobs import (
    ErrorKind,
    ErrorReport,
    FinishedJob,
    JobInfo,
    JobStatus,
    error_report,
)
from dit360_desktop.ui.generation.drop import DropController, InitImage
from dit360_desktop.ui.generation.panels import ProgressPanel, StatusReadouts
from dit360_desktop.ui.generation.queue_panel import QueuePanel
from dit360_desktop.ui.generation.side_panel import GeneratePanel
from dit360_desktop.ui.generation.worker import GenerationWorker

# What the generation thread imports before the first job can run (core.engine.import_model_libraries);
# how many are in is the progress the first job shows while it waits.
MODEL_LIBRARIES = ("torch", "diffusers", "transformers", "peft")
LIBRARY_PROGRESS_MS = 250

if TYPE_CHECKING:
    import numpy as np


class GenerationController(QObject):
    about_to_enqueue = Signal()  # before requests go on the queue (the window saves and starts the worker)
    result_ready = Signal(object)  # FinishedJob
    save_failed = Signal(object)  # FinishedJob the library did not take (shown; recovery_path says where)
    preview_ready = Signal(object)  # HxWx3 uint8 of the running job
    run_cancelled = Signal()
    init_image_changed = Signal(object)  # InitImage or None
    error = Signal(object)  # ErrorReport
    message = Signal(str, int)  # status-bar text, milliseconds
    waiting_changed = Signal(int)  # jobs queued behind the running one

    def __init__(
        self,
        form: GenerationForm,
        worker: GenerationWorker,
        panel: GeneratePanel,
        progress: ProgressPanel,
        status: StatusReadouts,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.form = form
        self.worker = worker
        self.panel = panel
        self.progress = progress
        self.status = status
        self.queue_panel = QueuePanel()
        self.init_image: InitImage | None = None
        self._running_job: int | None = None
        self._running_request: GenerationRequest | None = None
        # The form's seed before each queued job drew its own: put back when the job ran nothing.
        self._seed_before_run: int | None = None
        self._seed_before: dict[int, tuple[int | None, int | None]] = {}
        # Until the generation thread has imported the model libraries, a queued job waits behind that
        # import (tens of seconds on a first run): the progress line says so and Cancel takes the job off.
        self._libraries_ready = False
        self._library_wait_started = 0.0
        self._library_clock = QTimer(self)
        self._library_clock.setInterval(LIBRARY_PROGRESS_MS)
        self._library_clock.timeout.connect(self._show_library_progress)
        panel.generate_button.clicked.connect(self.generate)
        panel.variations_button.clicked.connect(lambda: self.queue_variations())
        panel.cancel_button.clicked.connect(self.cancel)
        panel.init_card.remove_requested.connect(self.clear_init_image)
        self.queue_panel.remove_requested.connect(worker.remove)
        self.queue_panel.move_requested.connect(worker.move)
        self.queue_panel.clear_requested.connect(worker.clear_queue)
        self.queue_panel.cancel_requested.connect(self.cancel)
        self._connect_worker()

    def _connect_worker(self) -> None:
        w = self.worker
        w.queue_changed.connect(self._on_queue_changed)
        w.job_started.connect(self._on_job_started)
        w.stage_changed.connect(self._on_stage)
        w.step_progress.connect(self._on_step)
        w.preview_ready.connect(self._on_preview)
        w.job_finished.connect(self._on_finished)
        w.job_failed.connect(self._on_failed)
        w.job_cancelled.connect(self._on_cancelled)
        w.model_state_changed.connect(self.status.set_model_state)
        w.device_changed.connect(self.status.set_device)
        w.memory_changed.connect(self.status.set_memory)
        w.engine_error.connect(self.error)
        w.preload_finished.connect(self._on_libraries_ready)

    # ---- requests ----------------------------------------------------------------------------------

    def build_request(self) -> GenerationRequest:
        """The request the form describes, with this run's seed; raises RequestError naming the bad field.

        A refused request leaves the form's seed as it was: nothing ran with the new one.
        """
        self._seed_before_run = self.form["seed"]
        request = self.form.request_for_run()
        try:
            request.validate()
        except RequestError:
            self.form.set("seed", self._seed_before_run)
            raise
        return request

    def generate(self) -> list[int]:
        try:
            request = self.build_request()
        except RequestError as e:
            self._request_error(e)
            return []
        return self._enqueue([request])

    def queue_variations(self, count: int | None = None) -> list[int]:
        count = count or self.panel.variations_spin.value()
        try:
            base = self.build_request()
        except RequestError as e:
            self._request_error(e)
            return []
        return self._enqueue(variation_requests(base, count))

    def _enqueue(self, requests: list[GenerationRequest]) -> list[int]:
        self.about_to_enqueue.emit()
        ids = self.worker.enqueue_many(requests)
        for job_id, request in zip(ids, requests, strict=True):
            self._seed_before[job_id] = (request.seed, self._seed_before_run)
        if (
            ids
            and not self._libraries_ready
            and self._running_job is None
            and not self._library_clock.isActive()
        ):
            self._library_wait_started = time.monotonic()
            self.panel.cancel_button.setEnabled(True)
            self._show_library_progress()
            self._library_clock.start()
        if len(ids) > 1:
            self.message.emit(f"Queued {len(ids)} variations", 4000)
        return ids

    def _request_error(self, error: RequestError) -> None:
        if error.field == "prompt":
            self.panel.prompt_panel.prompt_edit.setFocus()
        self.error.emit(error_report(error))

    def cancel(self) -> None:
        if self.worker.cancel_current() is not None:
            self.progress.show_idle("Cancelling…")
            self.panel.cancel_button.setEnabled(False)
        elif self._library_clock.isActive():
            # Nothing runs yet: the job waiting for the model libraries is the one to cancel.
            waiting = [job for job in self.worker.snapshot() if job.status is JobStatus.QUEUED]
            if waiting and self.worker.remove(waiting[0].job_id):
                self._seed_before.pop(waiting[0].job_id, None)
            if len(waiting) <= 1:
                self._library_clock.stop()
                self.panel.cancel_button.setEnabled(False)
                self.progress.show_idle("Cancelled")

    def _model_libraries_imported(self) -> int:
        return sum(name in sys.modules for name in MODEL_LIBRARIES)

    def _show_library_progress(self) -> None:
        self.progress.show_libraries(
            self._model_libraries_imported(), len(MODEL_LIBRARIES), self._library_wait_started
        )

    def _on_libraries_ready(self) -> None:
        self._libraries_ready = True
        self._library_clock.stop()

    # ---- the init image ----------------------------------------------------------------------------

    def set_init_image(self, init: InitImage) -> None:
        self.init_image = init
        self.form.update({"init_image": init.path, "fit": init.fit})
        self.panel.init_card.show_image(init)
        self.init_image_changed.emit(init)

    def clear_init_image(self) -> None:
        self.init_image = None
        self.form.update({"init_image": None, "fit": "crop"})
        self.panel.init_card.setVisible(False)
        self.init_image_changed.emit(None)

    def restore_init_image(self, drop: DropController, path: str | None, fit: str) -> None:
        """The init image of the last session, fitted as it was, if the file is still there."""
        if not path or not Path(path).is_file() or self.init_image is not None:
            return
        ask_fit = drop.choose_fit
        drop.choose_fit = lambda image: fit
        try:
            drop.open_path(path, offer_restore=False)
        finally:
            drop.choose_fit = ask_fit

    # ---- worker reports (UI thread) ----------------------------------------------------------------

    def _on_queue_changed(self, jobs: list[JobInfo]) -> None:
        self.queue_panel.set_jobs(jobs)
        self.waiting_changed.emit(sum(1 for job in jobs if job.status is JobStatus.QUEUED))
        if self._library_clock.isActive() and not jobs:
            # The waiting jobs were taken off the queue (its Clear, Remove) before the libraries were in.
            self._library_clock.stop()
            self.panel.cancel_button.setEnabled(False)
            self.progress.show_idle("Ready")

    def _on_job_started(self, job_id: int, request: GenerationRequest) -> None:
        self._library_clock.stop()
        self._running_job = job_id
        self._running_request = request
        self.panel.cancel_button.setEnabled(True)
        self.progress.show_stage(Stage.PREPARING, "Starting")

    def _on_stage(self, job_id: int, event: StageEvent) -> None:
        if job_id == self._running_job:
            self.progress.show_stage(event.stage, event.message)

    def _on_step(self, job_id: int, event: StepEvent) -> None:
        if job_id == self._running_job:
            self.progress.show_step(event)

    def _on_preview(self, job_id: int, preview: np.ndarray) -> None:
        if job_id == self._running_job:
            self.preview_ready.emit(preview)

    def _on_finished(self, finished: FinishedJob) -> None:
        self._seed_before.pop(finished.job_id, None)
        self._job_over()
        seconds = sum(float(v) for v in finished.metadata.get("timings", {}).values())
        self.progress.show_idle(f"Done in {seconds:.1f} s · seed {finished.request.seed}")
        self.result_ready.emit(finished)
        if finished.save_error:
            self.save_failed.emit(finished)
        elif finished.saved_path:
            self.message.emit(f"Saved {finished.saved_path}", 6000)

    def _on_failed(self, job_id: int, report: ErrorReport) -> None:
        if report.kind in (ErrorKind.MODEL_MISSING, ErrorKind.MODEL_INVALID):
            # Refused before anything ran: the form shows the seed it showed before this Generate.
            seed, before = self._seed_before.pop(job_id, (None, None))
            if seed is not None and self.form["seed"] == seed and not self.form["seed_locked"]:
                self.form.set("seed", before)
        self._job_over()
        self.progress.show_idle("Failed")
        if report.kind is ErrorKind.MODEL_MISSING:
            # Every queued job would fail the same way.
            self.worker.clear_queue()
        self.error.emit(report)

    def _on_cancelled(self, job_id: int) -> None:
        self._seed_before.pop(job_id, None)
        if job_id == self._running_job and self._running_request is not None:
            self.queue_panel.add_cancelled(job_id, self._running_request)
        self._job_over()
        self.progress.show_idle("Cancelled")
        self.run_cancelled.emit()

    def _job_over(self) -> None:
        self._running_job = None
        self._running_request = None
        self.panel.cancel_button.setEnabled(False)


def variation_requests(base: GenerationRequest, count: int) -> list[GenerationRequest]:
    """``count`` copies of ``base`` with consecutive seeds, starting at its own (wrapping at 2**32)."""
    start = base.with_seed().seed
    return [dataclasses.replace(base, seed=(start + i) % (MAX_SEED + 1)) for i in range(count)]
