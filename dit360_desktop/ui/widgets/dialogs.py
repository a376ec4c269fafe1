"""Dialogs: errors (plain message, traceback only under Details), model missing, help, About, and the
app's own message boxes (our icons, buttons that say what they do) and remembered file-dialog folders."""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import MutableMapping
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop import __version__, paths
from dit360_desktop.ui.common.jobs import ErrorKind, ErrorReport
from dit360_desktop.ui.widgets.icons import icon

# (keys, what they do); the help dialog lists these and the main window binds the same sequences.
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Ctrl+Enter", "Generate a panorama from the prompt"),
    ("Ctrl+Shift+Enter", "Queue variations (several seeds of the same prompt)"),
    ("Esc", "Cancel the running generation (or leave fullscreen)"),
    ("Ctrl+O", "Open an image as the init image for img2img"),
    ("Ctrl+S", "Save a snapshot of the current view"),
    ("Ctrl+Shift+E", "Edit the panorama: paint a mask over what should change"),
    ("1 / 2 / 3 / 4", "Perspective / little planet / flat / seam inspection"),
    ("Ctrl+1 / Ctrl+0", "Flat view at actual pixels (1:1) / fitted to the window"),
    ("Drag, arrows, WASD", "Look around"),
    ("Wheel, + / −", "Zoom the field of view"),
    ("R", "Reset the view"),
    ("G", "Show or hide the latitude/longitude grid"),
    ("Space", "Start or stop auto-rotation"),
    ("F11", "Fullscreen viewer"),
    ("Ctrl+Shift+U", "Unload models and free memory"),
    ("Ctrl+,", "Settings"),
    ("F9 / F10", "Show or hide the Generate panel / the history and queue"),
    ("F1", "This list"),
    ("Ctrl+Q", "Quit"),
)


# Errors about the model, whose fix is in the model manager.
MODEL_ERROR_KINDS = frozenset({ErrorKind.MODEL_MISSING, ErrorKind.MODEL_INVALID})


class ErrorDialog(QDialog):
    """A plain sentence first; the technical details are one click away, never in the way."""

    OPEN_MODEL_MANAGER = 2

    def __init__(
        self, report: ErrorReport, parent: QWidget | None = None, *, offer_model_manager: bool | None = None
    ):
        super().__init__(parent)
        self.setObjectName("ErrorDialog")
        self.setWindowTitle(report.title)
        self.setMinimumWidth(460)
        self.report = report
        if offer_model_manager is None:
            offer_model_manager = report.kind in MODEL_ERROR_KINDS
        layout = QVBoxLayout(self)
        heading = QHBoxLayout()
        badge = QLabel()
        badge.setObjectName("ErrorIcon")
        badge.setPixmap(
            icon("error" if report.kind is not ErrorKind.BAD_REQUEST else "warning").pixmap(32, 32)
        )
        badge.setAlignment(Qt.AlignmentFlag.AlignTop)
        heading.addWidget(badge)
        title = QLabel(f"<b>{report.title}</b>")
        title.setObjectName("ErrorTitle")
        heading.addWidget(title, 1)
        layout.addLayout(heading)
        self.message_label = QLabel(report.message)
        self.message_label.setObjectName("ErrorMessage")
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.message_label)

        self.details_edit = QPlainTextEdit(report.details)
        self.details_edit.setObjectName("ErrorDetails")
        self.details_edit.setReadOnly(True)
        self.details_edit.setMinimumHeight(180)
        self.details_edit.setVisible(False)
        self.details_edit.setToolTip("Technical details for a bug report; the log file has the same text.")
        layout.addWidget(self.details_edit)

        buttons = QDialogButtonBox()
        self.details_button = QPushButton("Show details")
        self.details_button.setObjectName("DetailsButton")
        self.details_button.setCheckable(True)
        self.details_button.setToolTip("Show the technical details (the traceback) of this error.")
        self.details_button.toggled.connect(self._toggle_details)
        self.details_button.setEnabled(bool(report.details))
        buttons.addButton(self.details_button, QDialogButtonBox.ButtonRole.ResetRole)
        copy = QPushButton("Copy")
        copy.setToolTip("Copy the message and the details to the clipboard.")
        copy.clicked.connect(self._copy)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ResetRole)
        self.model_manager_button: QPushButton | None = None
        if offer_model_manager:
            self.model_manager_button = QPushButton("Open model manager…")
            self.model_manager_button.setObjectName("OpenModelManager")
            self.model_manager_button.setIcon(icon("model"))
            self.model_manager_button.setToolTip(
                "Download the missing model, or import a copy you already have."
                if report.component
                else "Download FLUX.1-dev and the DiT360 LoRA, or import a folder."
            )
            self.model_manager_button.clicked.connect(lambda: self.done(self.OPEN_MODEL_MANAGER))
            buttons.addButton(self.model_manager_button, QDialogButtonBox.ButtonRole.ActionRole)
        close = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.setToolTip("Close this message.")
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _toggle_details(self, shown: bool) -> None:
        self.details_edit.setVisible(shown)
        self.details_button.setText("Hide details" if shown else "Show details")
        self.adjustSize()

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(
            f"{self.report.title}\n{self.report.message}\n\n{self.report.details}"
        )


def model_missing_report(
    message: str, details: str = "", *, manager_available: bool = True, component: str | None = None
) -> ErrorReport:
    """The report for a missing model: what is missing, then the one way to fix it in this app.
    ``component``: the catalog model that is missing (``ModelMissingError.component``); None is FLUX.1-dev."""
    if manager_available and component is not None:
        # Another model than FLUX.1-dev (the depth model, an upscaler, Redux): the sentence named it.
        hint = "The model manager downloads it, or imports a copy you already have."
    elif manager_available:
        hint = (
            "The model manager downloads FLUX.1-dev and the DiT360 LoRA, or imports copies you already have."
        )
    else:
        hint = "Choose a FLUX.1-dev folder with Models → Choose model folder…"
    return ErrorReport(
        ErrorKind.MODEL_MISSING,
        "The model is not installed",
        f"{message}\n\n{hint}",
        details,
        component=component,
    )


def with_repair_advice(report: ErrorReport) -> ErrorReport:
    """The report of a damaged file the model manager installed: it can fetch just that file again."""
    advice = "Or open the model manager and press Verify & repair: it downloads only that file."
    message = f"{report.message} {advice}"
    return dataclasses.replace(report, message=message)


def message_box(
    parent: QWidget | None,
    kind: str,
    title: str,
    text: str,
    buttons: tuple[str, ...] = ("Close",),
    *,
    informative: str = "",
) -> QMessageBox:
    """A message box with the app's icon for ``kind`` (info, warning, error, question) and worded buttons.

    The first button is the default; the last one also answers Esc. Stock buttons (Yes/No/Save) are
    never used: they carry the style's colour icons and say less than a verb does.
    """
    box = QMessageBox(parent)
    box.setObjectName("MessageBox")
    box.setWindowTitle(title)
    box.setText(text)
    if informative:
        box.setInformativeText(informative)
    box.setIconPixmap(icon(kind).pixmap(40, 40))
    made = []
    for index, label in enumerate(buttons):
        role = QMessageBox.ButtonRole.AcceptRole if index == 0 else QMessageBox.ButtonRole.RejectRole
        made.append(box.addButton(label, role))
    box.setDefaultButton(made[0])
    box.setEscapeButton(made[-1])
    return box


def ask(
    parent: QWidget | None, title: str, text: str, yes: str, no: str = "Cancel", *, kind: str = "question"
) -> bool:
    """True when the person chose ``yes``."""
    box = message_box(parent, kind, title, text, (yes, no))
    box.exec()
    return box.clickedButton() is box.buttons()[0]


def inform(parent: QWidget | None, title: str, text: str, *, kind: str = "info") -> None:
    message_box(parent, kind, title, text).exec()


def remembered_folder(folders: MutableMapping[str, str], kind: str, fallback: Path | None = None) -> str:
    """The last folder used for ``kind`` (if it still exists), else ``fallback`` or the home folder."""
    last = folders.get(kind)
    if isinstance(last, str) and Path(last).is_dir():
        return last
    return str(fallback or Path.home())


def choose_file(
    parent: QWidget | None, title: str, filters: str, folders: MutableMapping[str, str], kind: str
) -> Path | None:
    """An open-file dialog that starts where the last one of ``kind`` ended, and remembers it."""
    path, _ = QFileDialog.getOpenFileName(parent, title, remembered_folder(folders, kind), filters)
    if not path:
        return None
    folders[kind] = str(Path(path).parent)
    return Path(path)


def choose_folder(
    parent: QWidget | None, title: str, folders: MutableMapping[str, str], kind: str, start: str | None = None
) -> Path | None:
    folder = QFileDialog.getExistingDirectory(parent, title, start or remembered_folder(folders, kind))
    if not folder:
        return None
    folders[kind] = str(Path(folder).parent)
    return Path(folder)


class HelpDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("HelpDialog")
        self.setWindowTitle("Keyboard shortcuts")
        self.setMinimumSize(520, 520)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Type a prompt, press <b>Ctrl+Enter</b>, and watch the panorama form in the viewer. "
            "Drop a picture on the window to use it as a starting image."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.table = QTableWidget(len(SHORTCUTS), 2)
        self.table.setObjectName("ShortcutTable")
        self.table.setHorizontalHeaderLabels(["Keys", "Action"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setToolTip("Every keyboard shortcut of the app.")
        for row, (keys, action) in enumerate(SHORTCUTS):
            self.table.setItem(row, 0, QTableWidgetItem(keys))
            self.table.setItem(row, 1, QTableWidgetItem(action))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("AboutDialog")
        self.setWindowTitle(f"About {paths.APP_NAME}")
        layout = QHBoxLayout(self)
        logo = QLabel()
        logo.setPixmap(icon("app").pixmap(96, 96))
        logo.setAlignment(Qt.AlignmentFlag.AlignTop)
        layout.addWidget(logo)
        column = QVBoxLayout()
        from PySide6 import __version__ as pyside_version

        text = QLabel(
            f"<h2>{paths.APP_NAME}</h2>"
            f"<p>Version {__version__}</p>"
            "<p>Seamless 360° equirectangular panoramas from FLUX.1-dev with the DiT360 LoRA, "
            "generated on your own computer.</p>"
            "<p>FLUX.1-dev is released by Black Forest Labs under the FLUX.1 [dev] Non-Commercial License; "
            "DiT360 by the Insta360 Research Team. Check both licences before commercial use.</p>"
            f"<p style='color:#8a93a3'>Python {platform.python_version()} · PySide6 {pyside_version} · "
            f"settings in {paths.config_dir()}</p>"
        )
        text.setWordWrap(True)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        text.setMinimumWidth(380)
        column.addWidget(text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        column.addWidget(buttons)
        layout.addLayout(column)
