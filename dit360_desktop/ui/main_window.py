"""The main window: the Generate panel left, the 360° viewer in the centre, queue and history docked.

The window wires the features together and holds none of their logic: the form and the generation
controller (``ui.generation``) build requests and show the worker's reports, ``EngineSetup`` decides which
engine the worker builds, ``ui.actions``/``ui.menus`` declare the commands, the viewer, the gallery and the
drop controller keep their own state. The features (history, editing, cluster) get an ``AppContext`` of
the services they use (``ui.common.context``), never the window; a feature reaches another only through
those services and the signals connected here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QWidget

from dit360_desktop import paths
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.settings import Settings
from dit360_desktop.ui.actions import Actions
from dit360_desktop.ui.close_guard import CloseGuard
from dit360_desktop.ui.cluster.feature import ClusterFeature
from dit360_desktop.ui.common.context import AppContext, HistoryHub, JobQueue
from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.common.jobs import ErrorKind, ErrorReport, FinishedJob
from dit360_desktop.ui.engine_setup import EngineSetup
from dit360_desktop.ui.error_presenter import ErrorPresenter
from dit360_desktop.ui.first_run import FirstRun, ModelBanner
from dit360_desktop.ui.gallery.feature import HistoryFeature
from dit360_desktop.ui.generation.controller import GenerationController
from dit360_desktop.ui.generation.drop import DropController, InitImage
from dit360_desktop.ui.generation.panels import ProgressPanel, StatusReadouts
from dit360_desktop.ui.generation.side_panel import GeneratePanel
from dit360_desktop.ui.generation.unsaved_notice import show_unsaved_notice
from dit360_desktop.ui.generation.worker import GenerationWorker
from dit360_desktop.ui.guides.feature import GuidesFeature
from dit360_desktop.ui.menus import build_menus
from dit360_desktop.ui.session import (
    SessionParts,
    SettingsEffects,
    gather_session,
    open_settings_dialog,
    remember_session,
    restore_session,
    save_session,
)
from dit360_desktop.ui.startup import QuietStart, StartupSequence
from dit360_desktop.ui.viewer.area import ViewerArea
from dit360_desktop.ui.viewer.sample_loader import SampleLoader
from dit360_desktop.ui.widgets.dialogs import (
    AboutDialog,
    ErrorDialog,
    HelpDialog,
    ask,
    choose_file,
    message_box,
)
from dit360_desktop.ui.widgets.expose import ExposeWatcher
from dit360_desktop.ui.widgets.icons import icon
from dit360_desktop.ui.window_layout import (
    bind_panel_toggle,
    build_bottom_docks,
    default_strip_height,
)
from dit360_desktop.ui.window_services import WindowDocks, WindowStatus, WindowViewer

if TYPE_CHECKING:
    import numpy as np

    from dit360_desktop.ui.editing.feature import EditingFeature

log = logging.getLogger(__name__)


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
        self.library_dir = Path(
            library_dir_override or self.settings.library_dir or paths.default_library_dir()
        ).expanduser()
        self._start_worker = start_worker
        self._current_panorama: np.ndarray | None = None
        self._exposed = False
        self.history_dock: QDockWidget | None = None
        self.last_finished: FinishedJob | None = None
        self.notice_box: QMessageBox | None = None

        self.setWindowTitle(paths.APP_NAME)
        self.setWindowIcon(icon("app"))
        self.setMinimumSize(960, 600)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)

        self.app_actions = Actions(self)
        self.form = GenerationForm()
        self.worker = worker or GenerationWorker(store_factory=self._open_worker_library)
        self.engine_setup = EngineSetup(
            self.settings, self.worker, self.app_actions, self, model_dir_override=model_dir_override
        )
        self.errors = ErrorPresenter(self, self.engine_setup)
        self.worker.set_model_dir(self.engine_setup.model_dir())
        self.worker.set_engine_options(self.engine_setup.engine_options())
        self._build_side_dock()
        self._build_centre()
        self.status = StatusReadouts(self.statusBar())
        self.generation = GenerationController(
            self.form, self.worker, self.side_panel, self.progress, self.status, self
        )
        self.queue_panel = self.generation.queue_panel
        self._build_queue_dock()
        self.model_banner = ModelBanner()
        self.centre.layout().insertWidget(1, self.model_banner)
        self.first_run = FirstRun(self.model_banner, self.engine_setup, self.status, self.progress)
        self.menus = build_menus(
            self.menuBar(),
            self.app_actions,
            self.view_controls.menu_actions(),
            self.view_controls.snapshot_action,
        )
        self.menus.view.addAction(self.queue_dock.toggleViewAction())
        self.menus.view.addAction(self.history_dock.toggleViewAction())
        self.drop = DropController(self)
        self._connect()
        self.context = self._make_context()
        self.history = HistoryFeature(self.context, self.history_dock)
        self.cluster = ClusterFeature(self.context)
        # Before the first frame: a visible section added later would move the column under the cursor.
        self.guides = GuidesFeature(self.context, self.engine_setup.open_model_manager)
        # Built after the first frame (or on first use): its modules and panels cost ~0.1 s of start-up, and
        # its panels stay hidden until edit or placement mode, so nothing moves when they arrive.
        self._editing: EditingFeature | None = None
        self.depth: Any = None  # Depth & 3D (ui/depth), built after the first frame
        self._restore_settings()
        if not self.settings.window_geometry:
            self.resize(1440, 880)
        self._expose_watcher = ExposeWatcher(self, self._on_first_exposed)
        # What happens between the first frame and idle (the generation thread, with torch, comes last).
        self.startup = StartupSequence(self)

    # ---- construction ------------------------------------------------------------------------------

    def _build_side_dock(self) -> None:
        self.side_panel = GeneratePanel(self.form, self.settings.variations_count)
        # The panels tests and other features reach most often.
        self.prompt_panel = self.side_panel.prompt_panel
        self.params_panel = self.side_panel.params_panel
        self.init_card = self.side_panel.init_card
        self.generate_button = self.side_panel.generate_button
        self.cancel_button = self.side_panel.cancel_button
        self.variations_spin = self.side_panel.variations_spin
        dock = QDockWidget("Generate", self)
        dock.setObjectName("GenerateDock")
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        dock.setTitleBarWidget(QWidget())
        dock.setWidget(self.side_panel)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.side_dock = dock

    def _build_centre(self) -> None:
        self.centre = ViewerArea(self, lambda: self.settings.last_folders)
        self.view_controls = self.centre.view_controls
        self.progress = ProgressPanel()
        self.centre.add_below(self.progress)
        self.setCentralWidget(self.centre)
        # No parent: the loader's thread may outlive a window closed within the first second.
        self.sample_loader = SampleLoader()
        self.sample_loader.ready.connect(self._on_sample_ready)

    @property
    def viewer(self) -> Any:
        return self.centre.viewer

    def _build_queue_dock(self) -> None:
        self.queue_dock, self.history_dock = build_bottom_docks(self, self.queue_panel)

    def _connect(self) -> None:
        a, g = self.app_actions, self.generation
        a.generate.triggered.connect(self._primary_action)
        a.variations.triggered.connect(lambda: self.queue_variations())
        a.cancel.triggered.connect(self.cancel)
        a.open_image.triggered.connect(self.choose_init_image)
        a.quit.triggered.connect(self.close)
        a.unload.triggered.connect(self.worker.unload_models)
        a.help.triggered.connect(lambda: HelpDialog(self).exec())
        a.about.triggered.connect(lambda: AboutDialog(self).exec())
        a.settings.triggered.connect(self.open_settings)
        bind_panel_toggle(a.toggle_side_panel, [self.side_dock])
        self.bottom_panels = bind_panel_toggle(a.toggle_history, [self.queue_dock, self.history_dock])
        self.engine_setup.refused.connect(self.show_error)
        # Esc leaves fullscreen first; otherwise it cancels (see _on_escape).
        self._escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self._on_escape)
        g.about_to_enqueue.connect(self._before_enqueue)
        g.result_ready.connect(self._on_result)
        g.save_failed.connect(lambda f: show_unsaved_notice(self, f, self.settings.last_folders))
        g.preview_ready.connect(self._on_preview)
        g.run_cancelled.connect(lambda: self._show_init_or_last(self.init_image))
        g.init_image_changed.connect(self._show_init_or_last)
        g.error.connect(self.show_error)
        g.message.connect(self.statusBar().showMessage)
        g.waiting_changed.connect(
            lambda n: self.queue_dock.setWindowTitle(f"Queue ({n} waiting)" if n else "Queue")
        )
        self.engine_setup.message.connect(self.statusBar().showMessage)
        self.engine_setup.settings_changed.connect(self.save_settings)
        self.close_guard = CloseGuard(
            self, self.worker, confirm=lambda: self.confirm_stop(), on_stopping=self._stopping
        )
        self.drop.watch(self)
        self.drop.watch(self.viewer)
        self.centre.viewer_replaced.connect(self.drop.watch)
        self.drop.init_image_chosen.connect(g.set_init_image)
        self.drop.parameters_restored.connect(self.apply_parameters)
        self.drop.panorama_opened.connect(self.show_panorama)
        self.drop.notice.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        self.drop.failed.connect(lambda title, message: self.show_error(
            ErrorReport(ErrorKind.IMAGE, title, message)
        ))  # fmt: skip

    def _make_context(self) -> AppContext:
        history = HistoryHub()
        history.reuse_requested.connect(self.apply_parameters)
        history.variations_requested.connect(self._variations_of)
        jobs = JobQueue(self.worker, self._before_enqueue)
        self.worker.job_finished.connect(jobs.job_finished)
        jobs.setParent(self)
        history.setParent(self)
        return AppContext(
            parent=self,
            settings=self.settings,
            save_settings=self.save_settings,
            library_dir=self.library_dir,
            form=self.form,
            jobs=jobs,
            viewer=WindowViewer(lambda: self.viewer, self.show_panorama),
            status=WindowStatus(self.statusBar(), self.show_error),
            history=history,
            menus=self.menus,
            side_panel=self.side_panel,
            drop=self.drop,
            docks=WindowDocks(self, self.queue_dock, self.bottom_panels.add),
        )

    def _open_worker_library(self) -> Any:
        """The worker thread's own connection (SQLite connections belong to the thread that opened them)."""
        from dit360_desktop.history.library import Library

        return Library.open(self.library_dir)

    def _variations_of(self, params: dict) -> None:
        self.apply_parameters(params)
        self.queue_variations()

    def _on_sample_ready(self, array: np.ndarray) -> None:
        # A result or a dropped picture may have arrived while the sample was being computed.
        if self._current_panorama is None and self.init_image is None:
            self.show_panorama(array)

    # ---- start-up ------------------------------------------------------------------------------------

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        handle = self.windowHandle()
        if handle is not None and not self._exposed:
            handle.installEventFilter(self._expose_watcher)
            if not self.settings.window_state:
                # The layout exists now and nothing is painted yet: the strip's first height, no jump.
                default_strip_height(self, self.queue_dock, self.history_dock)

    def _on_first_exposed(self) -> None:
        if self._exposed:
            return
        self._exposed = True
        self.first_exposed.emit()
        # One small step per event-loop turn once the background imports are done (ui/startup.py).
        steps = self.startup
        steps.add("viewer", self.centre.reveal)
        steps.add("editing", lambda: self.editing)  # built before a drop or a result can need it
        # After the gallery is built: a first run computes the sample with numpy on the pool, and the
        # gallery's build, waiting for the GIL meanwhile, froze the window for 170-240 ms.
        steps.add("sample", lambda: setattr(self, "sample_start", QuietStart(
            self, self._start_sample, lambda: self.gallery is not None, pause_s=0, give_up_s=5)))  # fmt: skip
        steps.add("notices", self._show_startup_notices)
        steps.add("init image", lambda: self.generation.restore_init_image(
            self.drop, self.settings.init_image, self.settings.init_fit))  # fmt: skip
        steps.add("depth", self._build_depth)
        steps.add("history", self.history.attach)
        if self._start_worker:
            # Its torch import holds the GIL for long stretches: at the first pause after the gallery is in.
            steps.add("generation thread", lambda: setattr(self, "quiet_start", QuietStart(
                self, self.start_worker, lambda: self.gallery is not None)))  # fmt: skip
        # After the first frame's paint, which follows this expose event in the same turn: the background
        # imports started here held the GIL against the paint's Python parts (icons, filters), 90-100 ms
        # for a paint of about 30 (issue 21 item 12).
        QTimer.singleShot(0, self, steps.start)

    def _build_depth(self) -> None:
        from dit360_desktop.ui.depth.feature import DepthFeature

        self.depth = DepthFeature(self.context, self.engine_setup.open_model_manager)

    def _start_sample(self) -> None:
        if self._current_panorama is None:
            self.sample_loader.start()

    def _show_startup_notices(self) -> None:
        if self._settings_notice:
            self.notice_box = message_box(self, "info", "Settings reset", self._settings_notice)
            self.notice_box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.notice_box.open()
            self._settings_notice = None
        self.first_run.check()

    def start_worker(self) -> None:
        if not self.worker.isRunning() and not self.close_guard.confirmed:
            self.worker.start()
            self.worker.preload()

    # ---- generation (the controller does the work) ------------------------------------------------

    def build_request(self) -> GenerationRequest:
        return self.generation.build_request()

    def generate(self) -> list[int]:
        return self.generation.generate()

    def queue_variations(self, count: int | None = None) -> list[int]:
        return self.generation.queue_variations(count)

    def cancel(self) -> None:
        self.generation.cancel()

    def _primary_action(self) -> None:
        """Ctrl+Enter: the mode's primary action (Run edit, Outpaint the rest), else Generate."""
        if self.side_panel.mode_action is not None:
            self.side_panel.mode_action.trigger()
        else:
            self.generate()

    def _before_enqueue(self) -> None:
        self._remember_parameters()
        if self._start_worker:
            self.start_worker()

    def _on_escape(self) -> None:
        if self.centre.fullscreen:
            self.viewer.toggle_fullscreen()
            return
        self.cancel()

    def _on_result(self, finished: FinishedJob) -> None:
        self.show_panorama(finished.image)
        self.queue_panel.add_finished(finished)
        if finished.entry is not None:
            self.context.history.add_entry(finished.entry)
        self.last_finished = finished
        self.context.jobs.result_ready.emit(finished)

    # ---- showing things ------------------------------------------------------------------------------

    def show_panorama(self, image: np.ndarray) -> None:
        import numpy as np

        self._current_panorama = np.ascontiguousarray(image, dtype=np.uint8)
        self.viewer.set_panorama(self._current_panorama)

    def show_error(self, report: ErrorReport) -> ErrorDialog:
        return self.errors.show(report)

    @property
    def last_error_dialog(self) -> ErrorDialog | None:
        return self.errors.last_dialog

    @property
    def init_image(self) -> InitImage | None:
        return self.generation.init_image

    def _show_init_or_last(self, init: InitImage | None) -> None:
        """The init image, or the last panorama: after a change of init image, or instead of the
        half-finished preview of a cancelled run."""
        if init is not None:
            self.viewer.set_panorama(init.preview)
        elif self._current_panorama is not None:
            self.viewer.set_panorama(self._current_panorama)

    def _on_preview(self, preview: np.ndarray) -> None:
        if self.settings.live_preview:
            self.viewer.set_preview(preview)

    def choose_init_image(self) -> None:
        path = choose_file(
            self, "Open an init image", "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff)",
            self.settings.last_folders, "init-image",
        )  # fmt: skip
        if path is not None:
            self.drop.open_path(path)

    def open_settings(self) -> None:
        effects = SettingsEffects(
            library_count=lambda: self.gallery.library.count() if self.gallery is not None else 0,
            library_dir=self.library_dir,
            engine_changed=self.engine_setup.reapply,
            save=self.save_settings,
            message=self.statusBar().showMessage,
            models_may_have_changed=self.first_run.check,
        )
        open_settings_dialog(self._session_parts(), effects)

    def open_init_image_later(self, path: Path) -> None:
        QTimer.singleShot(0, lambda: self.drop.open_path(path))

    def apply_parameters(self, params: dict) -> None:
        """Stored parameters (a dropped PNG, a history entry) into the form."""
        self.form.recall(params)
        self.statusBar().showMessage("Parameters restored", 4000)

    def bring_to_front(self, files: list | None = None) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()
        if files:
            self.drop.open_path(files[0])

    # ---- settings ------------------------------------------------------------------------------------

    def _session_parts(self) -> SessionParts:
        return SessionParts(
            window=self,
            settings=self.settings,
            form=self.form,
            view=self.view_controls,
            variations=self.variations_spin,
            init_image=lambda: self.init_image,
            panel_toggles=(
                (self.app_actions.toggle_side_panel, (self.side_dock,)),
                (self.app_actions.toggle_history, tuple(self.bottom_panels.docks)),
            ),
        )

    def _restore_settings(self) -> None:
        restore_session(self._session_parts())

    def _remember_parameters(self) -> None:
        remember_session(self._session_parts())

    def gather_settings(self) -> Settings:
        """The settings as a quit would save them, without writing the file (the autosave compares)."""
        return gather_session(self._session_parts())

    def save_settings(self) -> None:
        save_session(self._session_parts(), self._settings_file)

    # ---- closing -------------------------------------------------------------------------------------

    def confirm_stop(self) -> bool:
        """Ask whether to stop the running generation and quit; tests replace this."""
        return ask(
            self,
            "Stop generating?",
            "A panorama is being generated. Stop it and quit? Waiting generations are dropped too.",
            "Stop and quit",
            "Keep generating",
            kind="warning",
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.close_guard.allow_close():
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def _stopping(self) -> None:
        self.save_settings()
        self.progress.show_idle("Stopping…")
        self.setEnabled(False)

    def shutdown(self) -> None:
        """Stop the generation thread and close the library; for quits that bypass closeEvent."""
        if not self.close_guard.confirmed:
            self.close_guard.confirmed = True
            self.save_settings()
        if self.worker.isRunning():
            self.worker.stop()
            self.worker.wait()
        if self._editing is not None:
            self._editing.shutdown()
        self.guides.shutdown()  # a sketch or region being painted stops its brush thread
        self.history.shutdown()

    @property
    def editing(self) -> EditingFeature:
        """Edit and placement modes: their menu entries, drop choices and panels (made on first use)."""
        if self._editing is None:
            from dit360_desktop.ui.editing.feature import EditingFeature

            self._editing = EditingFeature(self.context)
        return self._editing

    @property
    def gallery(self) -> Any:
        """The history gallery once the library is open (after the first frame), else None."""
        return self.history.gallery
