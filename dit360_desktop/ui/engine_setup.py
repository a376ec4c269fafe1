"""Which engine the worker builds: the model folder, the model manager, GGUF, compilation, LoRA merging.

These choices are saved in the settings and only take effect when the weights load, so each change is
handed to the worker (which builds a fresh engine for the next job) and reported in the status bar.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from dit360_desktop.panorama.options import EngineOptions
from dit360_desktop.settings import Settings
from dit360_desktop.ui.actions import Actions
from dit360_desktop.ui.generation.worker import GenerationWorker


class EngineSetup(QObject):
    message = Signal(str, int)  # status-bar text, milliseconds
    settings_changed = Signal()  # something worth saving changed
    # What is installed may have changed (a download or import ended, another folder was chosen).
    models_changed = Signal()
    refused = Signal(object)  # ErrorReport: a chosen model folder that is not usable

    def __init__(
        self,
        settings: Settings,
        worker: GenerationWorker,
        actions: Actions,
        dialog_parent: QWidget,
        *,
        model_dir_override: Path | None = None,
    ) -> None:
        super().__init__(dialog_parent)
        self.settings = settings
        self.worker = worker
        self.actions = actions
        self._parent = dialog_parent
        self._model_dir_override = model_dir_override
        actions.model_manager.triggered.connect(self.open_model_manager)
        actions.model_folder.triggered.connect(self.choose_model_folder)
        actions.gguf.triggered.connect(self.choose_gguf_file)
        actions.standard_transformer.triggered.connect(lambda: self.set_gguf_file(None))
        actions.compile.setChecked(settings.compile_transformer)
        actions.fuse_lora.setChecked(settings.fuse_lora)
        actions.compile.triggered.connect(self._toggle_compile)
        actions.fuse_lora.triggered.connect(self._toggle_fuse_lora)
        self._update_gguf_actions()

    def model_dir(self) -> Path | None:
        chosen = self._model_dir_override or self.settings.model_dir
        return Path(chosen).expanduser() if chosen else None

    def engine_options(self) -> EngineOptions:
        return EngineOptions.from_settings(self.settings)

    def models_dir(self) -> Path | None:
        return Path(self.settings.models_dir).expanduser() if self.settings.models_dir else None

    def open_model_manager(self, focus_component: str | None = None) -> None:
        from dit360_desktop.ui.model_manager.dialog import ModelManagerDialog

        dialog = ModelManagerDialog(self._parent, self.models_dir(), focus_component=focus_component or None)
        # The status bar and the first-run banner follow the moment a download or import ends.
        dialog.installed_changed.connect(self._installed_changed)
        dialog.exec()
        self._installed_changed()

    def _installed_changed(self) -> None:
        # Installing or removing models changes what the engine resolves to; load afresh next time.
        self.worker.set_model_dir(self.model_dir())
        self.models_changed.emit()

    def choose_model_folder(self) -> None:
        from dit360_desktop.models.folder_check import check_model_folder
        from dit360_desktop.ui.common.jobs import ErrorKind, ErrorReport
        from dit360_desktop.ui.widgets.dialogs import choose_folder

        chosen = choose_folder(
            self._parent, "Choose a FLUX.1-dev folder", self.settings.last_folders, "model-folder",
            start=self.settings.model_dir,
        )  # fmt: skip
        if chosen is None:
            return
        # Checked now (shape, config, headers, sizes), not at the next Generate.
        verdict = check_model_folder(chosen)
        if not verdict.ok:
            self.refused.emit(
                ErrorReport(ErrorKind.MODEL_INVALID, "This folder cannot be used", verdict.reason)
            )
            return
        folder = str(chosen)
        self.settings.model_dir = folder
        self._model_dir_override = None
        self.worker.set_model_dir(Path(folder))
        self.settings_changed.emit()
        self.models_changed.emit()
        self.message.emit(f"Model folder: {folder}", 6000)

    def choose_gguf_file(self) -> None:
        start = self.settings.gguf_file or self.settings.models_dir or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(
            self._parent, "Choose a FLUX.1-dev GGUF transformer", start, "GGUF files (*.gguf);;All files (*)"
        )
        if path:
            self.set_gguf_file(path)

    def set_gguf_file(self, path: str | None) -> None:
        self.settings.gguf_file = path
        self._apply(f"Transformer: {Path(path).name}" if path else "Transformer: FLUX.1-dev")

    def _toggle_compile(self, checked: bool) -> None:
        self.settings.compile_transformer = checked
        self._apply("Compilation " + ("on" if checked else "off"))

    def _toggle_fuse_lora(self, checked: bool) -> None:
        self.settings.fuse_lora = checked
        self._apply("LoRA merging " + ("on" if checked else "off"))

    def reapply(self, what: str) -> None:
        """The speed options in the settings changed elsewhere (the Settings dialog): use them."""
        self.actions.compile.setChecked(self.settings.compile_transformer)
        self.actions.fuse_lora.setChecked(self.settings.fuse_lora)
        self._apply(what)

    def _apply(self, what: str) -> None:
        self.worker.set_engine_options(self.engine_options())
        self._update_gguf_actions()
        self.settings_changed.emit()
        self.message.emit(f"{what}. The models load again with the next generation.", 8000)

    def _update_gguf_actions(self) -> None:
        current = self.settings.gguf_file
        self.actions.standard_transformer.setEnabled(current is not None)
        suffix = f" ({Path(current).name})" if current else ""
        self.actions.gguf.setText("Use a GGUF transformer…" + suffix)
