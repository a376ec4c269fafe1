"""Every error the user sees goes through here: an ``ErrorReport`` becomes an ``ErrorDialog``.

Model errors (missing or invalid) offer the model manager; "Verify & repair" is advised only for a damaged
file the manager installed, since it cannot repair a file the user chose.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from dit360_desktop.ui.common.jobs import ErrorKind, ErrorReport
from dit360_desktop.ui.engine_setup import EngineSetup
from dit360_desktop.ui.widgets.dialogs import ErrorDialog, model_missing_report, with_repair_advice


class ErrorPresenter:
    def __init__(self, parent: QWidget, engine_setup: EngineSetup) -> None:
        self._parent = parent
        self._engine_setup = engine_setup
        self.last_dialog: ErrorDialog | None = None

    def show(self, report: ErrorReport) -> ErrorDialog:
        if report.kind is ErrorKind.MODEL_MISSING:
            report = model_missing_report(
                report.message, report.details, manager_available=True, component=report.component
            )
        elif report.damaged_file is not None and self._is_managed(report.damaged_file):
            report = with_repair_advice(report)
        # Every model error (missing or invalid) offers the model manager; ErrorDialog decides by kind.
        dialog = ErrorDialog(report, self._parent)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda code: self._closed(code, report.component))
        self.last_dialog = dialog
        dialog.open()
        return dialog

    def _closed(self, code: int, component: str | None) -> None:
        if code == ErrorDialog.OPEN_MODEL_MANAGER:
            self._engine_setup.open_model_manager(component)

    def _is_managed(self, path: Path) -> bool:
        from dit360_desktop.models.folder_check import is_managed_folder

        return is_managed_folder(path, self._engine_setup.models_dir())
