"""The one generation thread: owns the PanoramaEngine, runs a visible queue of requests.

Modelled on Qt's mandelbrot threading example: a QThread whose ``run`` loop waits on a condition, checks
an abort flag, and reports only plain values through queued signals. It never touches a widget (Anki's
rule for background ops). torch and diffusers are imported here, inside the thread, after the window is
on screen, so start-up stays fast.

The queue and the commands are plain Python state behind one ``threading.Condition``; the UI thread
mutates them through the public methods and the worker emits ``queue_changed`` snapshots.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QThread, Signal

from dit360_desktop.panorama.errors import GenerationCancelled, ModelInvalidError, ModelMissingError
from dit360_desktop.panorama.events import CancelToken, Stage, StageEvent, StepEvent
from dit360_desktop.panorama.options import EngineOptions
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.paths import cache_dir
from dit360_desktop.ui.common.jobs import (
    DepthJob,
    ErrorKind,
    FinishedJob,
    JobInfo,
    JobStatus,
    ModelState,
    RepairJob,
    StereoJob,
    UpscaleJob,
    error_report,
)

log = logging.getLogger(__name__)

# Step events arrive on every denoising step; the memory read-out only needs refreshing now and then.
_MEMORY_REFRESH_S = 1.0


class Engine(Protocol):
    """What the worker needs of ``core.engine.PanoramaEngine``. It never loads weights itself: ``run``
    loads what a request needs, with the engine's out-of-memory handling and tier step-down, exactly as
    the CLI's run does."""

    is_loaded: bool
    device_name: str

    def unload(self) -> None: ...
    def run(self, request: Any, on_event: Any = None, cancel: CancelToken | None = None) -> Any: ...
    def memory_in_use(self) -> int: ...


# How the engine is built (panorama/options.py): fixed when the weights load, so changed options make the
# next job build a fresh engine.
EngineFactory = Callable[[Path | None, EngineOptions], Engine]


def default_engine_factory(model_dir: Path | None, options: EngineOptions) -> Engine:
    engine_module = importlib.import_module("dit360_desktop.core.engine")
    from dit360_desktop.core.threads import configure_compute_threads
    from dit360_desktop.models.selection import resolve_base_model

    # One core stays with the UI thread (core/threads.py).
    configure_compute_threads(keep_a_core_for_the_ui=True)

    return engine_module.PanoramaEngine(resolve_base_model(model_dir), options)


def flux_free_engine(options: EngineOptions) -> Engine:
    """The engine for tasks that need no FLUX.1-dev (depth, 3D exports, plain stereo and upscale) while
    FLUX.1-dev is not installed: it loads the models those tasks name, and refuses a FLUX task."""
    engine_module = importlib.import_module("dit360_desktop.core.engine")
    from dit360_desktop.core.threads import configure_compute_threads

    configure_compute_threads(keep_a_core_for_the_ui=True)
    return engine_module.PanoramaEngine(None, options)


class _Job:
    def __init__(
        self,
        job_id: int,
        request: GenerationRequest,
        repair: RepairJob | None = None,
        upscale: UpscaleJob | None = None,
        depth: DepthJob | None = None,
        stereo: StereoJob | None = None,
    ) -> None:
        self.job_id = job_id
        self.request = request
        self.token = CancelToken()
        self.status = JobStatus.QUEUED
        # A repair or an upscale of a library image instead of a generation or edit; ``request`` holds
        # its prompt and settings (the template of the engine request built when the job runs).
        self.repair = repair
        self.upscale = upscale
        self.depth = depth
        self.stereo = stereo
        self.work_dir: str | None = None

    def engine_request(self, template: GenerationRequest) -> Any:
        """What the engine runs for this job; its task is the one the engine's table has for its kind."""
        from dit360_desktop.panorama.task_requests import RepairOptions, RepairRequest, UpscaleRequest

        if self.repair is not None:
            # Kept until the result is saved: the library copies the repair's mask from here.
            self.work_dir = tempfile.mkdtemp(prefix="dit360-repair-")
            spec = self.repair
            options = RepairOptions(seam=spec.seam, poles=spec.poles, strength=spec.strength)
            return RepairRequest(
                spec.source, template, Path(self.work_dir), options, kept_mask=spec.kept_mask
            )
        if self.upscale is not None:
            spec = self.upscale
            return UpscaleRequest(
                spec.source, spec.scale, spec.sr_model, template, tile=spec.tile, detail=spec.detail
            )
        if self.depth is not None:
            from dit360_desktop.panorama.depth_requests import DepthRequest

            # The float map is written here; the worker keeps it beside the saved entry.
            self.work_dir = tempfile.mkdtemp(prefix="dit360-depth-")
            spec = self.depth
            return DepthRequest(spec.source, spec.depth_model, template, Path(self.work_dir), size=spec.size)
        if self.stereo is not None:
            return _stereo_request(self, self.stereo, template)
        return template

    def info(self) -> JobInfo:
        return JobInfo(self.job_id, self.request, self.status)


class GenerationWorker(QThread):
    queue_changed = Signal(object)  # list[JobInfo], running job first
    job_started = Signal(int, object)  # job id, GenerationRequest
    stage_changed = Signal(int, object)  # job id, StageEvent
    step_progress = Signal(int, object)  # job id, StepEvent (its preview left out: see preview_ready)
    preview_ready = Signal(int, object)  # job id, HxWx3 uint8 ndarray (a copy the UI may keep)
    job_finished = Signal(object)  # FinishedJob
    job_failed = Signal(int, object)  # job id, ErrorReport
    job_cancelled = Signal(int)
    model_state_changed = Signal(object)  # ModelState
    device_changed = Signal(str)
    memory_changed = Signal(object)  # bytes in use (int; object so values above 2**31 survive)
    engine_error = Signal(object)  # ErrorReport for failures outside a job (preload, unload)
    preload_finished = Signal()  # the engine and the model libraries are imported (or failed to)

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        engine_options: EngineOptions | None = None,
        engine_factory: EngineFactory = default_engine_factory,
        store_factory: Callable[[], Any] | None = None,
        unload_on_stop: bool = True,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("GenerationWorker")
        self._engine_factory = engine_factory
        # The library is opened in this thread when the first result is saved (``history/saving.py``).
        self._store_factory = store_factory
        self._library: Any = None
        # False leaves the engine's weights in memory when the thread ends (an engine shared with a
        # later worker, as the tests do); the app always frees them.
        self._unload_on_stop = unload_on_stop
        self._model_dir = model_dir
        self._options = engine_options or EngineOptions()
        self._cond = threading.Condition()
        self._queue: list[_Job] = []
        self._commands: deque[tuple[str, Any]] = deque()
        self._current: _Job | None = None
        self._stopping = False
        self._next_id = 1
        # Owned by the worker thread only.
        self._engine: Engine | None = None
        self._engine_dir: Path | None = None
        self._engine_options: EngineOptions | None = None
        # Why the engine has no FLUX.1-dev (it was built for a task that needs none), None when it has.
        self._engine_flux_error: Exception | None = None
        self._last_memory_report = 0.0
        self._model_state = ModelState.NOT_LOADED

    # ---- called from the UI thread ----------------------------------------------------------------

    def enqueue(self, request: GenerationRequest) -> int:
        return self.enqueue_many([request])[0]

    def enqueue_many(self, requests: list[GenerationRequest]) -> list[int]:
        with self._cond:
            ids = []
            for request in requests:
                job = _Job(self._next_id, request)
                self._next_id += 1
                self._queue.append(job)
                ids.append(job.job_id)
            self._cond.notify_all()
        self._publish_queue()
        return ids

    def enqueue_repair(self, repair: RepairJob, request: GenerationRequest) -> int:
        """Queue Fix seam and/or Fix poles of ``repair.source``; the result is saved as an edit of it."""
        return self._enqueue_job(request, repair=repair)

    def enqueue_upscale(self, upscale: UpscaleJob, request: GenerationRequest) -> int:
        """Queue a seam-aware upscale of ``upscale.source``; the result is saved as a new entry."""
        return self._enqueue_job(request, upscale=upscale)

    def enqueue_depth(self, depth: DepthJob, request: GenerationRequest) -> int:
        """Queue the distance map of ``depth.source``; saved as an entry linked to it (ui/depth)."""
        return self._enqueue_job(request, depth=depth)

    def enqueue_stereo(self, stereo: StereoJob, request: GenerationRequest) -> int:
        """Queue top/bottom stereo of ``stereo.source``; saved as an entry linked to it (ui/depth)."""
        return self._enqueue_job(request, stereo=stereo)

    def _enqueue_job(self, request: GenerationRequest, **task: Any) -> int:
        with self._cond:
            job = _Job(self._next_id, request, **task)
            self._next_id += 1
            self._queue.append(job)
            self._cond.notify_all()
        self._publish_queue()
        return job.job_id

    def remove(self, job_id: int) -> bool:
        """Take a queued (not running) job off the queue."""
        with self._cond:
            for index, job in enumerate(self._queue):
                if job.job_id == job_id:
                    del self._queue[index]
                    break
            else:
                return False
        self._publish_queue()
        return True

    def move(self, job_id: int, offset: int) -> bool:
        """Move a queued job ``offset`` places (negative: towards the front)."""
        with self._cond:
            ids = [job.job_id for job in self._queue]
            if job_id not in ids:
                return False
            index = ids.index(job_id)
            target = max(0, min(len(self._queue) - 1, index + offset))
            if target == index:
                return False
            self._queue.insert(target, self._queue.pop(index))
        self._publish_queue()
        return True

    def clear_queue(self) -> None:
        with self._cond:
            self._queue.clear()
        self._publish_queue()

    def cancel_current(self) -> int | None:
        """Ask the running job to stop; the engine notices within one step. Returns its id."""
        with self._cond:
            job = self._current
            if job is None or job.token.cancelled:
                return None
            job.token.cancel()
            job.status = JobStatus.CANCELLING
        self._publish_queue()
        return job.job_id

    def unload_models(self) -> None:
        self._command("unload")

    def preload(self) -> None:
        """Import torch and the engine in this thread and report the device; loads no weights."""
        self._command("preload")

    def set_model_dir(self, model_dir: Path | None) -> None:
        self._command("model_dir", model_dir)

    def set_engine_options(self, options: EngineOptions) -> None:
        """Build the engine with these options from the next job on (unloading the current one)."""
        self._command("options", options)

    def stop(self) -> None:
        """Cancel the running job, drop the queue and end the thread; follow with ``wait()``."""
        with self._cond:
            self._stopping = True
            self._queue.clear()
            if self._current is not None:
                self._current.token.cancel()
            self._cond.notify_all()

    def snapshot(self) -> list[JobInfo]:
        with self._cond:
            jobs = ([self._current] if self._current else []) + self._queue
            return [job.info() for job in jobs]

    @property
    def is_busy(self) -> bool:
        with self._cond:
            return self._current is not None or bool(self._queue)

    @property
    def model_state(self) -> ModelState:
        return self._model_state

    # ---- the worker thread -------------------------------------------------------------------------

    def _command(self, name: str, value: Any = None) -> None:
        with self._cond:
            self._commands.append((name, value))
            self._cond.notify_all()

    def _publish_queue(self) -> None:
        self.queue_changed.emit(self.snapshot())

    def run(self) -> None:
        # Python sees a QThread as a "Dummy-N" thread; name it so the log's threadName column says who it is.
        threading.current_thread().name = self.objectName()
        _yield_cpu_to_the_ui()
        log.info("Generation thread started")
        # Before anything here imports torch: its libraries, and the extension modules the last start's
        # import recorded, load without stalling the window.
        from dit360_desktop.core.native_libraries import load_ahead

        load_ahead(native_files_record())
        try:
            while True:
                with self._cond:
                    while not (self._stopping or self._commands or self._queue):
                        self._cond.wait()
                    if self._stopping:
                        break
                    if self._commands:
                        command = self._commands.popleft()
                        job = None
                    else:
                        command = None
                        job = self._queue.pop(0)
                        job.status = JobStatus.RUNNING
                        self._current = job
                if command is not None:
                    self._run_command(*command)
                    continue
                self._publish_queue()
                try:
                    announce = self._run_job(job)
                finally:
                    with self._cond:
                        self._current = None
                    self._publish_queue()
                # The job's end is announced only once it is true everywhere: the model state is
                # reported, the job is off the queue and ``is_busy`` no longer counts it. A slot that
                # reads the worker on job_finished/failed/cancelled (the close guard) sees it done.
                announce()
        finally:
            if self._unload_on_stop:
                self._release_engine()
            if self._library is not None:
                self._library.close()
                self._library = None
            log.info("Generation thread stopped")

    def _run_command(self, name: str, value: Any) -> None:
        if name == "unload":
            if self._engine is not None and self._engine.is_loaded:
                self._engine.unload()
                log.info("Models unloaded")
            self._set_model_state(self._idle_state() if self._engine else self._model_state)
            self._report_memory(force=True)
        elif name == "model_dir":
            # The same folder (or None) again after a "missing": the models may have just been installed.
            if value != self._model_dir or self._model_state is ModelState.MISSING:
                self._release_engine()
                self._model_dir = value
                self._set_model_state(ModelState.NOT_LOADED)
        elif name == "options":
            if value != self._options:
                self._release_engine()
                self._options = value
                self._set_model_state(ModelState.NOT_LOADED)
                self._report_memory(force=True)
        elif name == "preload":
            try:
                self._ensure_engine()
                # The model classes' imports (torch._dynamo via diffusers, transformers, PEFT) take a few
                # seconds and hold the GIL in long stretches; paid now, while the user types, they do
                # not stall the window during the first generation.
                started = time.perf_counter()
                importlib.import_module("dit360_desktop.core.engine").import_model_libraries()
                log.info("Model libraries imported in %.2f s", time.perf_counter() - started)
                from dit360_desktop.core.native_libraries import record_native_files

                record_native_files(native_files_record())
            except Exception as e:
                report = error_report(e)
                log.info("Preload: %s", report.message)
                if report.kind is not ErrorKind.MODEL_MISSING:
                    self.engine_error.emit(report)
            finally:
                self.preload_finished.emit()

    def _ensure_engine(self, *, needs_flux: bool = True) -> Engine:
        """The engine for a task; one that ``needs_flux`` resolves FLUX.1-dev (its "not installed" error
        reaches the user), one that does not runs without it when FLUX.1-dev is missing or unusable."""
        if (
            self._engine is not None
            and self._engine_dir == self._model_dir
            and self._engine_options == self._options
            and (self._engine_flux_error is None or not needs_flux)
        ):
            return self._engine
        self._release_engine()
        started = time.perf_counter()
        flux_error: Exception | None = None
        try:
            self._engine = self._engine_factory(self._model_dir, self._options)
        except (ModelMissingError, ModelInvalidError) as error:
            if isinstance(error, ModelMissingError):
                self._set_model_state(ModelState.MISSING)
                # The status bar names the device even before a model is installed (#21 item 10).
                self.device_changed.emit(_planned_device())
            if needs_flux:
                raise
            log.info("Running without FLUX.1-dev (%s)", error)
            flux_error = error
            self._engine = flux_free_engine(self._options)
        finally:
            log.info("Engine set up in %.2f s", time.perf_counter() - started)
        self._engine_dir, self._engine_options = self._model_dir, self._options
        self._engine_flux_error = flux_error
        self.device_changed.emit(self._engine.device_name if self._engine.is_loaded else _planned_device())
        self._set_model_state(self._idle_state())
        self._report_memory(force=True)
        return self._engine

    def _idle_state(self) -> ModelState:
        """FLUX.1-dev's state while nothing loads: an engine without it still says it is missing."""
        if isinstance(self._engine_flux_error, ModelMissingError):
            return ModelState.MISSING
        loaded = self._engine is not None and self._engine.is_loaded
        return ModelState.READY if loaded else ModelState.NOT_LOADED

    def _release_engine(self) -> None:
        if self._engine is not None:
            if self._engine.is_loaded:
                self._engine.unload()
            self._engine = None
            self._engine_dir = self._engine_options = None
            self._engine_flux_error = None

    def _set_model_state(self, state: ModelState) -> None:
        self._model_state = state
        self.model_state_changed.emit(state)

    def _report_memory(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self._engine is None or (not force and now - self._last_memory_report < _MEMORY_REFRESH_S):
            return
        self._last_memory_report = now
        self.memory_changed.emit(int(self._engine.memory_in_use()))

    def _run_job(self, job: _Job) -> Callable[[], None]:
        """Run the job; returns how to announce its end (job_finished, job_failed or job_cancelled)."""
        token = job.token
        self.job_started.emit(job.job_id, job.request)
        engine: Engine | None = None
        needs_flux = True
        try:
            token.raise_if_cancelled()
            request = job.engine_request(job.request)
            # The task table's ``needs`` say whether FLUX.1-dev must be resolved for this job at all.
            needs_flux = _needs_flux(request)
            engine = self._ensure_engine(needs_flux=needs_flux)
            if needs_flux:
                request = _with_default_lora(request)
                if not engine.is_loaded:
                    # Shown before the engine's own loading stage: the first load can take a while to start.
                    self._set_model_state(ModelState.LOADING)
            result = engine.run(
                request,
                on_event=lambda event: self._relay(job, engine, event),
                cancel=token,
            )
            token.raise_if_cancelled()
        except GenerationCancelled:
            log.info("Job %d cancelled", job.job_id)
            _remove_work_dir(job)
            return lambda: self.job_cancelled.emit(job.job_id)
        except Exception as e:
            # Every failure reaches the user as a dialog; the traceback goes to the log and the details.
            log.exception("Job %d failed", job.job_id)
            if engine is not None and not engine.is_loaded:
                self._set_model_state(
                    # A missing depth model is not a missing FLUX.1-dev.
                    ModelState.MISSING
                    if isinstance(e, ModelMissingError) and needs_flux
                    else self._idle_state()
                )
            report = error_report(e)
            _remove_work_dir(job)
            return lambda: self.job_failed.emit(job.job_id, report)
        finally:
            # Before the job's end is announced: a cancelled or failed load reads NOT_LOADED by then.
            if engine is not None:
                self._show_loaded(engine)
            self._report_memory(force=True)
        try:
            finished = self._finish(job, result)
        finally:
            _remove_work_dir(job)
        return lambda: self.job_finished.emit(finished)

    def _show_loaded(self, engine: Engine) -> None:
        """Model state and device once the engine has (or no longer has) its weights in memory."""
        if engine.is_loaded:
            if self._model_state is not ModelState.READY:
                self.device_changed.emit(str(engine.device_name))
                self._set_model_state(ModelState.READY)
        elif self._model_state in (ModelState.LOADING, ModelState.READY):
            # A load given up because its job was cancelled, or a failed one (or a FLUX-free task's model
            # loaded while FLUX.1-dev is still missing).
            self._set_model_state(self._idle_state())

    def _relay(self, job: _Job, engine: Engine, event: Any) -> None:
        import numpy as np

        if job.token.cancelled:
            return
        if isinstance(event, StageEvent):
            if event.stage is Stage.LOADING:
                if self._model_state is not ModelState.LOADING:
                    self._set_model_state(ModelState.LOADING)
            elif self._model_state is ModelState.LOADING:
                self._show_loaded(engine)
            self.stage_changed.emit(job.job_id, event)
        elif isinstance(event, StepEvent):
            self.step_progress.emit(job.job_id, dataclasses.replace(event, preview=None))
            if event.preview is not None:
                preview = np.array(event.preview, dtype=np.uint8, order="C", copy=True)
                self.preview_ready.emit(job.job_id, preview)
            self._report_memory()

    def _finish(self, job: _Job, result: Any) -> FinishedJob:
        import numpy as np

        image = np.ascontiguousarray(np.asarray(result.image.convert("RGB"), dtype=np.uint8))
        finished = FinishedJob(job.job_id, result.request, image, dict(result.metadata))
        if self._store_factory is None:
            return _keep_depth(finished, result, None)  # no library configured (tests, or saving off)
        from dit360_desktop.history.saving import LibraryOnDemand, save_result

        if self._library is None:
            self._library = LibraryOnDemand(self._store_factory)
        saved = save_result(result, library=self._library.get(), library_error=self._library.error)
        finished = dataclasses.replace(
            finished,
            entry=saved.entry,
            saved_path=str(saved.entry.path) if saved.entry is not None else None,
            save_error=saved.error_text,
            recovery_path=str(saved.recovered) if saved.recovered is not None else None,
        )
        return _keep_depth(finished, result, saved.entry)


def _remove_work_dir(job: _Job) -> None:
    if job.work_dir is not None:
        shutil.rmtree(job.work_dir, ignore_errors=True)


def _needs_flux(request: Any) -> bool:
    from dit360_desktop.core.tasks.base import FLUX
    from dit360_desktop.core.tasks.table import task_for

    return FLUX in task_for(request).needs


def _with_default_lora(request: Any) -> Any:
    """The request with its FLUX settings' LoRA resolved by the one default-LoRA rule."""
    from dit360_desktop.core.tasks.base import model_settings
    from dit360_desktop.models.selection import resolve_lora

    settings = model_settings(request)
    resolved = settings.replace(lora_path=resolve_lora(settings.lora_path))
    return resolved if request is settings else dataclasses.replace(request, template=resolved)


def _stereo_request(job: _Job, spec: StereoJob, template: GenerationRequest) -> Any:
    """The engine's StereoRequest: its distance map in metres (a relative map scaled to a 3 m median, as
    the 3D exports take it), written into the job's work folder when it has to be scaled."""
    from dit360_desktop.panorama.depth_requests import StereoRequest

    job.work_dir = tempfile.mkdtemp(prefix="dit360-stereo-")
    depth = spec.depth
    if not spec.metric:
        from dit360_desktop.panorama.depthmap import read_distance, save_distance_exr
        from dit360_desktop.panorama.space3d import scene_scale

        distance = read_distance(depth)
        depth = save_distance_exr(distance * scene_scale(distance, False), Path(job.work_dir) / "metres.exr")
    return StereoRequest(
        spec.source,
        depth,
        spec.ipd,
        template,
        Path(job.work_dir),
        fill=spec.fill,
    )


def _keep_depth(finished: FinishedJob, result: Any, entry: Any) -> FinishedJob:
    """A depth job's float map, moved out of its work folder (removed after the job): beside the saved
    entry's image, else into a folder of its own."""
    exr = (result.metadata.get("depth") or {}).get("exr")
    if not exr:
        return finished
    from dit360_desktop.history.files import depth_path_of
    from dit360_desktop.panorama.fileio import write_atomic

    if entry is not None:
        target = depth_path_of(Path(entry.path))
    else:
        target = Path(tempfile.mkdtemp(prefix="dit360-depth-kept-")) / Path(exr).name
    try:
        write_atomic(target, lambda temp: shutil.copyfile(exr, temp))
    except OSError as e:
        log.warning("The depth map could not be kept at %s: %s", target, e)
        return dataclasses.replace(finished, save_error=finished.save_error or str(e))
    return dataclasses.replace(finished, depth_path=str(target))


def _planned_device() -> str:
    """The device an "auto" request will load onto, before anything is loaded (for the status bar)."""
    from dit360_desktop.core.devices import resolve_device

    device = resolve_device("auto")
    if device.type == "cuda":
        import torch

        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def _yield_cpu_to_the_ui() -> None:
    """Run generation at a lower CPU priority than the UI thread.

    On a CPU-only machine torch keeps every core busy; at equal priority the UI thread then waits for a
    time slice and the window stutters. Linux applies nice values per thread, and the threads torch starts
    later from this one (its intra-op pool) inherit it. Elsewhere QThread's priority maps to the OS's own.
    """
    QThread.currentThread().setPriority(QThread.Priority.LowPriority)
    if sys.platform.startswith("linux"):
        tid = threading.get_native_id()
        try:
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + 5))
        except OSError as e:
            log.info("Could not lower the generation thread's priority: %s", e)


def native_files_record() -> Path:
    """Where the generation thread keeps the native files its import loaded, for the next start."""
    return cache_dir() / "native-files.json"


def tune_thread_switching() -> None:
    """Let the UI thread win the GIL back quickly while the engine thread runs Python code.

    CPython hands the GIL over every ``switchinterval`` seconds (default 5 ms). A shorter interval bounds how
    long a pure-Python stretch in the engine can delay a paint or an input event.
    """
    sys.setswitchinterval(0.001)
