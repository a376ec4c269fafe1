"""The notice for a result the library could not save: the picture stays in the viewer, "Save as…" keeps it.

Non-modal on purpose: the person can look at the panorama, change the library folder in Settings or go on
generating while it is open. It says where the recovery copy went (``history/saving.py``).
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.ui.common.jobs import FinishedJob
from dit360_desktop.ui.widgets.dialogs import remembered_folder
from dit360_desktop.ui.widgets.icons import icon

log = logging.getLogger(__name__)

FOLDER_KIND = "save-as"
_TEXT_WIDTH = 460


class UnsavedResultNotice(QDialog):
    saved = Signal(object)  # Path of the PNG written by "Save as…"

    def __init__(
        self, finished: FinishedJob, folders: MutableMapping[str, str], parent: QWidget | None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("UnsavedResultNotice")
        self.setWindowTitle("The panorama was not saved")
        self.setModal(False)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.finished_job = finished
        self._folders = folders
        layout = QVBoxLayout(self)
        layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
        top = QHBoxLayout()
        badge = QLabel()
        badge.setPixmap(icon("warning").pixmap(40, 40))
        badge.setAlignment(Qt.AlignmentFlag.AlignTop)
        top.addWidget(badge)
        column = QVBoxLayout()
        reason, where = notice_text(finished)
        self.message = QLabel(reason)
        self.where = QLabel(where)
        for label in (self.message, self.where):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            # A top-level dialog's layout does not ask a wrapped label for its height at a width; say it.
            label.ensurePolished()
            label.setFixedWidth(_TEXT_WIDTH)
            label.setMinimumHeight(label.heightForWidth(_TEXT_WIDTH))
            column.addWidget(label)
        # A path has no spaces to wrap at: a read-only field shows it whole (scrolls, copies).
        self.recovery_field = QLineEdit(finished.recovery_path or "")
        self.recovery_field.setReadOnly(True)
        self.recovery_field.setVisible(finished.recovery_path is not None)
        column.addWidget(self.recovery_field)
        self.outcome = QLabel()
        self.outcome.setWordWrap(True)
        self.outcome.setFixedWidth(_TEXT_WIDTH)
        self.outcome.setVisible(False)
        column.addWidget(self.outcome)
        top.addLayout(column, 1)
        layout.addLayout(top)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.save_as_button = QPushButton("Save as…")
        self.save_as_button.setToolTip("Write the panorama as a PNG with its parameters and 360° marker")
        self.save_as_button.clicked.connect(self.save_as)
        buttons.addWidget(self.save_as_button)
        self.show_folder_button = QPushButton("Show recovery folder")
        self.show_folder_button.setVisible(finished.recovery_path is not None)
        self.show_folder_button.clicked.connect(self._show_recovery_folder)
        buttons.addWidget(self.show_folder_button)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self.save_as_button.setDefault(True)

    def save_as(self) -> Path | None:
        start = Path(remembered_folder(self._folders, FOLDER_KIND)) / self._suggested_name()
        chosen, _ = QFileDialog.getSaveFileName(self, "Save the panorama as", str(start), "PNG image (*.png)")
        if not chosen:
            return None
        path = Path(chosen)
        if path.suffix.lower() != ".png":
            path = path.with_name(path.name + ".png")
        return self.write_png(path)

    def write_png(self, path: Path) -> Path | None:
        """Write the panorama with its full metadata; a failure is shown here, the notice stays open."""
        # Imported here: the main window imports this module, and PIL is not needed for its first frame.
        from PIL import Image

        from dit360_desktop.panorama import imageio

        try:
            imageio.save_png(Image.fromarray(self.finished_job.image), path, full_metadata(self.finished_job))
        except (OSError, ValueError) as e:
            log.warning("Save as %s failed: %s", path, e)
            self._show_outcome(
                f"Could not write {path}: {e.strerror if isinstance(e, OSError) else e}", ok=False
            )
            return None
        self._folders[FOLDER_KIND] = str(path.parent)
        self._show_outcome(f"Saved to {path}", ok=True)
        self.saved.emit(path)
        return path

    def _show_outcome(self, text: str, *, ok: bool) -> None:
        self.outcome.setText(text)
        self.outcome.setMinimumHeight(self.outcome.heightForWidth(_TEXT_WIDTH))
        self.outcome.setProperty("state", "ok" if ok else "error")
        self.outcome.setStyleSheet("" if ok else "color: #e06c6c;")
        self.outcome.setVisible(True)

    def _suggested_name(self) -> str:
        if self.finished_job.recovery_path:
            return Path(self.finished_job.recovery_path).name
        return f"panorama-s{self.finished_job.request.seed}.png"

    def _show_recovery_folder(self) -> None:
        if self.finished_job.recovery_path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(self.finished_job.recovery_path).parent)))


def notice_text(finished: FinishedJob) -> tuple[str, str]:
    """(why the library refused the picture, where its copy is or that there is none)."""
    reason = (finished.save_error or "unknown error").rstrip(".")
    text = f"The panorama is shown, but the library could not save it: {reason}."
    if finished.recovery_path:
        return text, "A copy with its parameters was written to the recovery folder:"
    return text, "No recovery copy could be written either. Use Save as… to keep it."


def full_metadata(finished: FinishedJob) -> dict:
    """The metadata every saved copy of a result records (``panorama.result.file_metadata``), for a PNG
    saved by hand."""
    from dit360_desktop.panorama.result import file_metadata

    return file_metadata(finished.request, finished.metadata)


def show_unsaved_notice(
    parent: QWidget, finished: FinishedJob, folders: MutableMapping[str, str]
) -> UnsavedResultNotice:
    notice = UnsavedResultNotice(finished, folders, parent)
    notice.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    notice.show()
    return notice
