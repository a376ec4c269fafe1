"""The main window: prompt and parameters left, the 360° viewer in the centre, queue and history docked.

The window only builds requests and shows what the worker reports. The worker thread owns the engine and
the library writes; the window never waits on it except when closing (and then without blocking the loop).
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop import paths
from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.settings import Settings, save_settings
from dit360_desktop.ui.generation.drop import DropController, InitImage, InitImageCard
from dit360_desktop.ui.generation.jobs import (
    ErrorKind,
    ErrorReport,
    FinishedJob,
    JobInfo,
    JobStatus,
    error_report,
)
from dit360_desktop.ui.generation.panels import ProgressPanel, StatusReadouts
from dit360_desktop.ui.generation.params_panel import FIELDS, ParamsPanel
from dit360_desktop.ui.generation.prompt_panel import PromptPanel
from dit360_desktop.ui.generation.queue_panel import QueuePanel
from dit360_desktop.ui.generation.worker import EngineOptions, GenerationWorker
from dit360_desktop.ui.viewer import create_viewer, fallback_viewer
from dit360_desktop.ui.viewer.controls import ViewControls
from dit360_desktop.ui.viewer.sample_loader import SampleLoader
from dit360_desktop.ui.widgets.dialogs import AboutDialog, ErrorDialog, HelpDialog, model_missing_report
from dit360_desktop.ui.widgets.icons import icon

log = logging.getLogger(__name__)

MODEL_MANAGER_MODULE = "dit360_desktop.ui.model_manager.dialog"
GALLERY_MODULE = "dit360_desktop.ui.gallery.panel"
# The generation thread starts (and imports torch) this long after the window is first on screen, so the
# first paint and the first input are not competing with a multi-second import.
WORKER_START_DELAY_MS = 300
MAX_VARIATIONS = 32


class _ExposeWatcher(QObject):
    """Fires once when the window is really on screen (its QWindow got an Expose event)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self._window = window

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Expose and watched.isExposed():
            watched.removeEventFilter(self)
            self._window._on_first_exposed()
        return False


class MainWindow(QMainWindow):
    first_exposed = Signal()

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        model_dir_override: Path | None = None,
        library_dir_override: Path | None = None,
        settings_notice: str | None = None,
        settings_file: Path | None = None,
        worker: GenerationWorker | None = None,
        start_worker: bool = True,
    ) -> None:
        super().__init__()
        self.setObjectName("MainWindow")
        self.settings = settings or Settings()
        self._settings_file = settings_file
        self._settings_notice = settings_notice
        self._model_dir_override = model_dir_override
        self._library_dir = Path(
            library_dir_override or self.settings.library_dir or paths.default_library_dir()
        ).expanduser()
        self._start_worker = start_worker
        self._init_image: InitImage | None = None
        self._current_panorama: np.ndarray | None = None
        self._running_job: int | None = None
        self._close_confirmed = False
        self._exposed = False
        self.gallery: Any = None
        self.history_dock: QDockWidget | None = None
        self.last_error_dialog: ErrorDialog | None = None
        self.last_finished: FinishedJob | None = None
        self.notice_box: QMessageBox | None = None

        self.setWindowTitle(paths.APP_NAME)
        self.setWindowIcon(icon("app"))
        self.setMinimumSize(960, 600)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)

        self.worker = worker or GenerationWorker(
            self.model_dir(), engine_options=self.engine_options(), store_factory=self._open_worker_library
        )
        if worker is not None:
            worker.set_engine_options(self.engine_options())
        self._build_side_panel()
        self._build_centre()
        self._build_docks()
        self.status = StatusReadouts(self.statusBar())
        self._build_actions()
        self._build_menus()
        self._connect_worker()

        self.drop = DropController(self)
        self.drop.watch(self)
        self.drop.watch(self.viewer)
        self.drop.init_image_chosen.connect(self.set_init_image)
        self.drop.parameters_restored.connect(self.apply_parameters)
        self.drop.panorama_opened.connect(self.show_panorama)
        self.drop.failed.connect(lambda title, message: self.show_error(
            ErrorReport(ErrorKind.IMAGE, title, message)
        ))  # fmt: skip

        self._restore_settings()
        if not self.settings.window_geometry:
            self.resize(1440, 880)
        self._expose_watcher = _ExposeWatcher(self)

    # ---- construction ------------------------------------------------------------------------------

    def _build_side_panel(self) -> None:
        panel = QFrame()
        panel.setObjectName("SidePanel")
        outer = QVBoxLayout(panel)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        content = QWidget()
        content.setObjectName("SidePanelContent")
        layout = QVBoxLayout(content)
        layout.setContentsMargins(14, 8, 14, 8)
        layout.setSpacing(8)
        self.prompt_panel = PromptPanel()
        self.params_panel = ParamsPanel()
        self.init_card = InitImageCard()
        self.init_card.remove_requested.connect(self.clear_init_image)
        layout.addWidget(self.prompt_panel)
        layout.addWidget(self.init_card)
        layout.addWidget(self.params_panel)
        layout.addStretch(1)
        scroll.setWidget(content)
        outer.addWidget(scroll, 1)

        buttons = QWidget()
        buttons.setObjectName("GenerateBar")
        grid = QVBoxLayout(buttons)
        grid.setContentsMargins(14, 10, 14, 12)
        grid.setSpacing(6)
        self.generate_button = QPushButton("  Generate")
        self.generate_button.setObjectName("GenerateButton")
        self.generate_button.setIcon(icon("generate"))
        self.generate_button.setToolTip(
            "Generate a panorama from the prompt (Ctrl+Enter). While one runs, this queues another."
        )
        self.generate_button.clicked.connect(self.generate)
        grid.addWidget(self.generate_button)
        row = QHBoxLayout()
        self.variations_button = QPushButton(" Variations")
        self.variations_button.setObjectName("VariationsButton")
        self.variations_button.setIcon(icon("variations"))
        self.variations_button.setToolTip(
            "Queue several panoramas of the same prompt with consecutive seeds (Ctrl+Shift+Enter)."
        )
        self.variations_button.clicked.connect(lambda: self.queue_variations())
        self.variations_spin = QSpinBox()
        self.variations_spin.setObjectName("VariationsCount")
        self.variations_spin.setRange(2, MAX_VARIATIONS)
        self.variations_spin.setValue(max(2, min(MAX_VARIATIONS, self.settings.variations_count)))
        self.variations_spin.setPrefix("× ")
        self.variations_spin.setToolTip("How many seeds the Variations button queues.")
        self.cancel_button = QPushButton(" Cancel")
        self.cancel_button.setObjectName("CancelButton")
        self.cancel_button.setIcon(icon("cancel"))
        self.cancel_button.setToolTip("Stop the running generation within one step (Esc).")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.variations_button, 1)
        row.addWidget(self.variations_spin)
        row.addWidget(self.cancel_button, 1)
        grid.addLayout(row)
        outer.addWidget(buttons)
        panel.setMinimumWidth(360)
        panel.setMaximumWidth(460)

        dock = QDockWidget("Generate", self)
        dock.setObjectName("GenerateDock")
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        dock.setTitleBarWidget(QWidget())
        dock.setWidget(panel)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.side_dock = dock

    def _build_centre(self) -> None:
        centre = QWidget()
        centre.setObjectName("Centre")
        layout = QVBoxLayout(centre)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.viewer = create_viewer(centre)
        self.view_controls = ViewControls(self, self.viewer)
        layout.addWidget(self.view_controls.toolbar)
        # The GL viewer initialises (PyOpenGL import, shaders, textures) when first shown. It stays hidden
        # until the window is on screen so that work does not delay the first frame; the note fills the gap.
        self.viewer.setVisible(False)
        self.viewer_starting = QLabel("Starting the 360° viewer…")
        self.viewer_starting.setObjectName("Hint")
        self.viewer_starting.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.viewer_starting, 1)
        layout.addWidget(self.viewer, 1)
        self.progress = ProgressPanel()
        layout.addWidget(self.progress)
        self.setCentralWidget(centre)
        self._centre_layout = layout
        # No parent: the loader's thread may outlive a window closed within the first second.
        self.sample_loader = SampleLoader()
        self.sample_loader.ready.connect(self._on_sample_ready)
        self._viewer_fullscreen = False
        self._connect_viewer()

    def _connect_viewer(self) -> None:
        self.viewer.fullscreen_changed.connect(self._on_viewer_fullscreen)
        self.viewer.gl_failed.connect(self._on_gl_failed)

    def _on_viewer_fullscreen(self, fullscreen: bool) -> None:
        self._viewer_fullscreen = fullscreen

    def _on_gl_failed(self, message: str) -> None:
        """OpenGL died after start-up (driver reset, lost context): swap in the message widget."""
        log.error("The 3D viewer stopped: %s", message)
        old = self.viewer
        replacement = fallback_viewer(old, message)
        self._centre_layout.replaceWidget(old, replacement)
        old.hide()
        old.deleteLater()
        self.viewer = replacement
        self.view_controls.attach(replacement)
        self.drop.watch(replacement)
        self._connect_viewer()

    def _on_sample_ready(self, array: np.ndarray) -> None:
        # A result or a dropped picture may have arrived while the sample was being computed.
        if self._current_panorama is None and self._init_image is None:
            self.show_panorama(array)

    def _build_docks(self) -> None:
        self.queue_panel = QueuePanel()
        self.queue_panel.remove_requested.connect(self.worker.remove)
        self.queue_panel.move_requested.connect(self.worker.move)
        self.queue_panel.clear_requested.connect(self.worker.clear_queue)
        self.queue_panel.cancel_requested.connect(self.cancel)
        self.queue_dock = QDockWidget("Queue", self)
        self.queue_dock.setObjectName("QueueDock")
        self.queue_dock.setWidget(self.queue_panel)
        self.queue_dock.setToolTip("Generations waiting to run.")
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.queue_dock)

    def _build_actions(self) -> None:
        def action(
            text: str, slot: Any, shortcut: Any = None, tip: str = "", name: str | None = None
        ) -> QAction:
            act = QAction(text, self)
            if name:
                act.setIcon(icon(name))
            if shortcut is not None:
                act.setShortcuts(shortcut if isinstance(shortcut, list) else [QKeySequence(shortcut)])
            act.setToolTip(tip or text)
            act.setStatusTip(tip or text)
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        self.generate_action = action(
            "Generate", self.generate,
            [QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")], "Generate a panorama", "generate",
        )  # fmt: skip
        self.variations_action = action(
            "Queue variations", lambda: self.queue_variations(),
            [QKeySequence("Ctrl+Shift+Return"), QKeySequence("Ctrl+Shift+Enter")],
            "Queue several seeds of the same prompt", "variations",
        )  # fmt: skip
        self.cancel_action = action("Cancel", self.cancel, None, "Stop the running generation", "cancel")
        # Esc leaves fullscreen first; otherwise it cancels (see _on_escape).
        self._escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self._on_escape)
        self.open_action = action("Open image…", self.choose_init_image, QKeySequence.StandardKey.Open,
                                  "Open a picture as the init image", "image")  # fmt: skip
        self.quit_action = action("Quit", self.close, QKeySequence.StandardKey.Quit, "Quit DiT360 Desktop")
        self.model_manager_action = action(
            "Model manager…", self.open_model_manager, None, "Download or import models", "model"
        )
        self.model_folder_action = action(
            "Choose model folder…", self.choose_model_folder, None,
            "Use a diffusers-layout FLUX.1-dev folder on this computer", "folder",
        )  # fmt: skip
        self.gguf_action = action(
            "Use a GGUF transformer…", self.choose_gguf_file, None,
            "Load the transformer from a quantised GGUF file (Q8_0, Q5_K, Q4_K…) for small GPUs", "model",
        )  # fmt: skip
        self.standard_transformer_action = action(
            "Use the standard transformer", lambda: self._set_gguf_file(None), None,
            "Load the transformer from the FLUX.1-dev folder again instead of the GGUF file",
        )  # fmt: skip
        self.compile_action = action(
            "Compile the transformer (torch.compile)", self._toggle_compile, None,
            "Faster steps on NVIDIA GPUs (0.30 instead of 0.41 s/step on an H100); the first run after\n"
            "loading compiles for about 15 s. Not used on Apple silicon or with the 24gb tier.",
        )  # fmt: skip
        self.fuse_lora_action = action(
            "Merge the LoRA into the weights", self._toggle_fuse_lora, None,
            "About 6 % faster steps; changing the LoRA scale then reloads the transformer.",
        )  # fmt: skip
        for act, checked in (
            (self.compile_action, self.settings.compile_transformer),
            (self.fuse_lora_action, self.settings.fuse_lora),
        ):
            act.setCheckable(True)
            act.setChecked(checked)
        self.unload_action = action(
            "Unload models",
            self.worker.unload_models,
            "Ctrl+Shift+U",
            "Free the memory the models hold",
            "unload",
        )
        self.help_action = action("Keyboard shortcuts", self.show_help, QKeySequence.StandardKey.HelpContents,
                                  "List every shortcut", "help")  # fmt: skip
        self.about_action = action("About DiT360 Desktop", self.show_about, None, "Version and licences")

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.view_controls.snapshot_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        generate_menu = bar.addMenu("&Generate")
        for act in (self.generate_action, self.variations_action, self.cancel_action):
            generate_menu.addAction(act)
        generate_menu.addSeparator()
        speed_menu = generate_menu.addMenu("Speed")
        speed_menu.addAction(self.compile_action)
        speed_menu.addAction(self.fuse_lora_action)
        view_menu = bar.addMenu("&View")
        for act in self.view_controls.menu_actions():
            if act is None:
                view_menu.addSeparator()
            else:
                view_menu.addAction(act)
        view_menu.addSeparator()
        view_menu.addAction(self.queue_dock.toggleViewAction())
        self.view_menu = view_menu
        models_menu = bar.addMenu("&Models")
        for act in (self.model_manager_action, self.model_folder_action):
            models_menu.addAction(act)
        models_menu.addSeparator()
        models_menu.addAction(self.gguf_action)
        models_menu.addAction(self.standard_transformer_action)
        models_menu.addSeparator()
        models_menu.addAction(self.unload_action)
        self._update_gguf_actions()
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.help_action)
        help_menu.addAction(self.about_action)

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
        w.engine_error.connect(self.show_error)
        w.finished.connect(self._on_worker_finished)

    # ---- start-up ------------------------------------------------------------------------------------

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        handle = self.windowHandle()
        if handle is not None and not self._exposed:
            handle.installEventFilter(self._expose_watcher)

    def _on_first_exposed(self) -> None:
        if self._exposed:
            return
        self._exposed = True
        self.first_exposed.emit()
        QTimer.singleShot(0, self._show_viewer)
        QTimer.singleShot(0, self._after_first_paint)
        if self._start_worker:
            QTimer.singleShot(WORKER_START_DELAY_MS, self.start_worker)

    def _show_viewer(self) -> None:
        self.viewer_starting.hide()
        self.viewer.setVisible(True)

    def _after_first_paint(self) -> None:
        if self._current_panorama is None:
            self.sample_loader.start()
        if self._settings_notice:
            self.notice_box = QMessageBox(
                QMessageBox.Icon.Information, "Settings reset", self._settings_notice, parent=self
            )
            self.notice_box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.notice_box.open()
            self._settings_notice = None
        self._attach_gallery()

    def start_worker(self) -> None:
        if not self.worker.isRunning() and not self._close_confirmed:
            self.worker.start()
            self.worker.preload()

    def _attach_gallery(self) -> None:
        try:
            gallery_module = importlib.import_module(GALLERY_MODULE)
            from dit360_desktop.history.library import Library

            library = Library.open(self._library_dir)
        except ModuleNotFoundError as e:
            if e.name != GALLERY_MODULE:
                raise
            log.info("The history gallery is not part of this build")
            return
        except Exception as e:
            log.exception("The history library could not be opened")
            self.show_error(error_report(e))
            return
        self.gallery = gallery_module.GalleryPanel(library, self)
        dock = QDockWidget("History", self)
        dock.setObjectName("HistoryDock")
        dock.setWidget(self.gallery)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.splitDockWidget(self.queue_dock, dock, Qt.Orientation.Vertical)
        if self.settings.window_state:
            self.restoreState(QByteArray(base64.b64decode(self.settings.window_state)))
        else:
            # After the new dock has been laid out once; before that QMainWindow ignores the sizes.
            QTimer.singleShot(0, self._default_dock_sizes)
        self.view_menu.addAction(dock.toggleViewAction())
        self.history_dock = dock
        self.gallery.entry_selected.connect(self._on_entry_selected)
        self.gallery.reuse_parameters_requested.connect(self.apply_parameters)
        self.gallery.reuse_as_init_requested.connect(
            lambda path: self.drop.open_path(path, offer_restore=False)
        )
        self.gallery.variations_requested.connect(self._variations_from_parameters)
        self.gallery.status_message.connect(lambda text: self.statusBar().showMessage(text, 6000))

    def _default_dock_sizes(self) -> None:
        self.resizeDocks([self.queue_dock, self.history_dock], [150, 700], Qt.Orientation.Vertical)
        self.resizeDocks([self.queue_dock], [300], Qt.Orientation.Horizontal)

    def _open_worker_library(self) -> Any:
        from dit360_desktop.history.library import Library

        return Library.open(self._library_dir)

    # ---- paths ---------------------------------------------------------------------------------------

    def model_dir(self) -> Path | None:
        chosen = self._model_dir_override or self.settings.model_dir
        return Path(chosen).expanduser() if chosen else None

    def _lora_path(self) -> str | None:
        return self.settings.lora_path

    # ---- requests ------------------------------------------------------------------------------------

    def build_request(self, *, seed: int | None = None) -> GenerationRequest:
        """The request the panels describe; raises RequestError naming the bad field."""
        values = self.params_panel.values()
        init = self._init_image
        request = GenerationRequest(
            prompt=self.prompt_panel.full_prompt(),
            negative_prompt=self.prompt_panel.negative_prompt(),
            seed=seed if seed is not None else self.params_panel.seed_for_next_run(),
            init_image=init.path if init else None,
            fit=init.fit if init else "crop",
            lora_path=self._lora_path(),
            **values,
        )
        request.validate()
        return request

    def generate(self) -> list[int]:
        try:
            request = self.build_request()
        except RequestError as e:
            self._request_error(e)
            return []
        return self._enqueue([request])

    def queue_variations(self, count: int | None = None) -> list[int]:
        count = count or self.variations_spin.value()
        try:
            base = self.build_request()
        except RequestError as e:
            self._request_error(e)
            return []
        return self._enqueue(variation_requests(base, count))

    def _variations_from_parameters(self, params: dict) -> None:
        self.apply_parameters(params)
        self.queue_variations()

    def _enqueue(self, requests: list[GenerationRequest]) -> list[int]:
        self._remember_parameters()
        if self._start_worker:
            self.start_worker()
        ids = self.worker.enqueue_many(requests)
        if len(ids) > 1:
            self.statusBar().showMessage(f"Queued {len(ids)} variations", 4000)
        return ids

    def _request_error(self, error: RequestError) -> None:
        if error.field == "prompt":
            self.prompt_panel.prompt_edit.setFocus()
        self.show_error(error_report(error))

    def cancel(self) -> None:
        if self.worker.cancel_current() is not None:
            self.progress.show_idle("Cancelling…")
            self.cancel_button.setEnabled(False)

    def _on_escape(self) -> None:
        if self._viewer_fullscreen:
            self.viewer.toggle_fullscreen()
            return
        self.cancel()

    # ---- worker signals (UI thread) ------------------------------------------------------------------

    def _on_queue_changed(self, jobs: list[JobInfo]) -> None:
        self.queue_panel.set_jobs(jobs)
        waiting = sum(1 for job in jobs if job.status is JobStatus.QUEUED)
        self.queue_dock.setWindowTitle(f"Queue ({waiting} waiting)" if waiting else "Queue")

    def _on_job_started(self, job_id: int, request: GenerationRequest) -> None:
        self._running_job = job_id
        self.cancel_button.setEnabled(True)
        self.progress.show_stage("preparing", "Starting")

    def _on_stage(self, job_id: int, stage: str, message: str) -> None:
        if job_id == self._running_job:
            self.progress.show_stage(stage, message)

    def _on_step(self, job_id: int, step: int, total: int, elapsed: float, eta: float) -> None:
        if job_id == self._running_job:
            self.progress.show_step(step, total, elapsed, eta)

    def _on_preview(self, job_id: int, preview: np.ndarray) -> None:
        if job_id == self._running_job:
            self.viewer.set_preview(preview)

    def _on_finished(self, finished: FinishedJob) -> None:
        self._job_over()
        self.show_panorama(finished.image)
        seconds = sum(float(v) for v in finished.metadata.get("timings", {}).values())
        self.progress.show_idle(f"Done in {seconds:.1f} s · seed {finished.request.seed}")
        if finished.save_error:
            self.show_error(ErrorReport(
                ErrorKind.ENGINE, "The panorama was not saved",
                f"The panorama is shown but could not be saved to the library: {finished.save_error}",
            ))  # fmt: skip
        elif finished.saved_path:
            self.statusBar().showMessage(f"Saved {finished.saved_path}", 6000)
        if finished.entry is not None and self.gallery is not None:
            self.gallery.add_entry(finished.entry)
        self.last_finished = finished

    def _on_failed(self, job_id: int, report: ErrorReport) -> None:
        self._job_over()
        self.progress.show_idle("Failed")
        if report.kind is ErrorKind.MODEL_MISSING:
            # Every queued job would fail the same way.
            self.worker.clear_queue()
        self.show_error(report)

    def _on_cancelled(self, job_id: int) -> None:
        self._job_over()
        self.progress.show_idle("Cancelled")
        # Replace the half-finished preview with what was shown before the run.
        if self._init_image is not None:
            self.viewer.set_panorama(self._init_image.preview)
        elif self._current_panorama is not None:
            self.viewer.set_panorama(self._current_panorama)

    def _job_over(self) -> None:
        self._running_job = None
        self.cancel_button.setEnabled(False)

    # ---- showing things ------------------------------------------------------------------------------

    def show_panorama(self, image: np.ndarray) -> None:
        self._current_panorama = np.ascontiguousarray(image, dtype=np.uint8)
        self.viewer.set_panorama(self._current_panorama)

    def show_error(self, report: ErrorReport) -> ErrorDialog:
        offer_manager = False
        if report.kind is ErrorKind.MODEL_MISSING:
            offer_manager = model_manager_available()
            report = model_missing_report(report.message, report.details, manager_available=offer_manager)
        dialog = ErrorDialog(report, self, offer_model_manager=offer_manager)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(
            lambda code: self.open_model_manager() if code == ErrorDialog.OPEN_MODEL_MANAGER else None
        )
        self.last_error_dialog = dialog
        dialog.open()
        return dialog

    def set_init_image(self, init: InitImage) -> None:
        self._init_image = init
        self.init_card.show_image(init)
        self.params_panel.set_strength_visible(True)
        self.viewer.set_panorama(init.preview)

    def clear_init_image(self) -> None:
        self._init_image = None
        self.init_card.setVisible(False)
        self.params_panel.set_strength_visible(False)
        if self._current_panorama is not None:
            self.viewer.set_panorama(self._current_panorama)

    @property
    def init_image(self) -> InitImage | None:
        return self._init_image

    def choose_init_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open an init image", str(Path.home()), "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff)"
        )
        if path:
            self.drop.open_path(path)

    def open_init_image_later(self, path: Path) -> None:
        QTimer.singleShot(0, lambda: self.drop.open_path(path))

    def apply_parameters(self, params: dict) -> None:
        if isinstance(params.get("prompt"), str):
            self.prompt_panel.set_full_prompt(params["prompt"])
        if isinstance(params.get("negative_prompt"), str):
            self.prompt_panel.set_negative_prompt(params["negative_prompt"])
        self.params_panel.apply(params)
        if isinstance(params.get("seed"), int):
            self.params_panel.seed_lock.setChecked(True)
        self.statusBar().showMessage("Parameters restored", 4000)

    def _on_entry_selected(self, entry: Any) -> None:
        from dit360_desktop.panorama.imageio import load_user_image

        try:
            image = load_user_image(entry.path)
        except Exception as e:
            self.show_error(error_report(e))
            return
        self.show_panorama(np.asarray(image))

    # ---- models --------------------------------------------------------------------------------------

    def open_model_manager(self) -> None:
        if not model_manager_available():
            self.show_error(model_missing_report(
                "The model manager is not part of this build.", manager_available=False
            ))  # fmt: skip
            return
        module = importlib.import_module(MODEL_MANAGER_MODULE)
        models_dir = Path(self.settings.models_dir).expanduser() if self.settings.models_dir else None
        dialog = module.ModelManagerDialog(self, models_dir)
        dialog.exec()
        # Installing or removing models changes what the engine resolves to; load afresh next time.
        self.worker.set_model_dir(self.model_dir())

    def choose_model_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Choose a diffusers-layout FLUX.1-dev folder", self.settings.model_dir or str(Path.home())
        )
        if folder:
            self.settings.model_dir = folder
            self._model_dir_override = None
            self.worker.set_model_dir(Path(folder))
            self.save_settings()
            self.statusBar().showMessage(f"Model folder: {folder}", 6000)

    # ---- engine options ------------------------------------------------------------------------------

    def engine_options(self) -> EngineOptions:
        s = self.settings
        return EngineOptions(
            gguf_file=Path(s.gguf_file).expanduser() if s.gguf_file else None,
            compile=s.compile_transformer,
            fuse_lora=s.fuse_lora,
        )

    def _apply_engine_options(self, what: str) -> None:
        self.worker.set_engine_options(self.engine_options())
        self._update_gguf_actions()
        self.save_settings()
        self.statusBar().showMessage(f"{what}. The models load again with the next generation.", 8000)

    def _toggle_compile(self, checked: bool) -> None:
        self.settings.compile_transformer = checked
        self._apply_engine_options("Compilation " + ("on" if checked else "off"))

    def _toggle_fuse_lora(self, checked: bool) -> None:
        self.settings.fuse_lora = checked
        self._apply_engine_options("LoRA merging " + ("on" if checked else "off"))

    def choose_gguf_file(self) -> None:
        start = self.settings.gguf_file or self.settings.models_dir or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a FLUX.1-dev GGUF transformer", start, "GGUF files (*.gguf);;All files (*)"
        )
        if path:
            self._set_gguf_file(path)

    def _set_gguf_file(self, path: str | None) -> None:
        self.settings.gguf_file = path
        self._apply_engine_options(f"Transformer: {Path(path).name}" if path else "Transformer: FLUX.1-dev")

    def _update_gguf_actions(self) -> None:
        current = self.settings.gguf_file
        self.standard_transformer_action.setEnabled(current is not None)
        suffix = f" ({Path(current).name})" if current else ""
        self.gguf_action.setText("Use a GGUF transformer…" + suffix)

    def show_help(self) -> None:
        HelpDialog(self).exec()

    def show_about(self) -> None:
        AboutDialog(self).exec()

    def bring_to_front(self, files: list | None = None) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()
        if files:
            self.drop.open_path(files[0])

    # ---- settings ------------------------------------------------------------------------------------

    def _restore_settings(self) -> None:
        s = self.settings
        self.prompt_panel.prefix_check.setChecked(s.prepend_panorama_prefix)
        if s.last_parameters:
            params = {k: v for k, v in s.last_parameters.items() if k != "seed"}
            if isinstance(params.get("prompt"), str):
                self.prompt_panel.set_full_prompt(params["prompt"])
                self.prompt_panel.prefix_check.setChecked(s.prepend_panorama_prefix)
            if isinstance(params.get("negative_prompt"), str):
                self.prompt_panel.set_negative_prompt(params["negative_prompt"])
            self.params_panel.apply(params)
            seed = s.last_parameters.get("seed")
            if s.seed_locked and isinstance(seed, int):
                self.params_panel.set_seed(seed)
        self.params_panel.seed_lock.setChecked(s.seed_locked)
        self.view_controls.restore(s.viewer_mode, s.show_grid)
        if s.window_geometry:
            self.restoreGeometry(QByteArray(base64.b64decode(s.window_geometry)))

    def _remember_parameters(self) -> None:
        s = self.settings
        s.last_parameters = {
            "prompt": self.prompt_panel.user_prompt(),
            "negative_prompt": self.prompt_panel.negative_prompt(),
            "seed": self.params_panel.seed(),
            **{k: v for k, v in self.params_panel.values().items() if k in FIELDS},
        }
        s.prepend_panorama_prefix = self.prompt_panel.prefix_check.isChecked()
        s.seed_locked = self.params_panel.seed_lock.isChecked()
        s.variations_count = self.variations_spin.value()
        mode, grid = self.view_controls.current()
        s.viewer_mode, s.show_grid = mode, grid

    def save_settings(self) -> None:
        self._remember_parameters()
        self.settings.window_geometry = base64.b64encode(bytes(self.saveGeometry().data())).decode("ascii")
        self.settings.window_state = base64.b64encode(bytes(self.saveState().data())).decode("ascii")
        try:
            save_settings(self.settings, self._settings_file)
        except OSError as e:
            log.error("Could not save the settings: %s", e)

    # ---- closing -------------------------------------------------------------------------------------

    def confirm_stop(self) -> bool:
        """Ask whether to stop the running generation and quit; tests replace this."""
        answer = QMessageBox.question(
            self,
            "Stop generating?",
            "A panorama is being generated. Stop it and quit? Waiting generations are dropped too.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.worker.isRunning():
            if not self._close_confirmed:
                if self.worker.is_busy and not self.confirm_stop():
                    event.ignore()
                    return
                self._close_confirmed = True
                self.save_settings()
                self.progress.show_idle("Stopping…")
                self.setEnabled(False)
                self.worker.stop()
            # Close for real once the thread has ended (_on_worker_finished); the event loop keeps running.
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop the generation thread and close the library; for quits that bypass closeEvent."""
        if not self._close_confirmed:
            self._close_confirmed = True
            self.save_settings()
        if self.worker.isRunning():
            self.worker.stop()
            self.worker.wait()
        if self.gallery is not None:
            self.gallery.shutdown()
            self.gallery.library.close()
            self.gallery = None

    def _on_worker_finished(self) -> None:
        if self._close_confirmed:
            self.close()


def variation_requests(base: GenerationRequest, count: int) -> list[GenerationRequest]:
    """``count`` copies of ``base`` with consecutive seeds, starting at its own (wrapping at 2**32)."""
    from dit360_desktop.panorama.request import MAX_SEED

    start = base.with_seed().seed
    return [dataclasses.replace(base, seed=(start + i) % (MAX_SEED + 1)) for i in range(count)]


def model_manager_available() -> bool:
    return importlib.util.find_spec(MODEL_MANAGER_MODULE) is not None
