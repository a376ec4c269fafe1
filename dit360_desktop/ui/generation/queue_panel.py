"""The visible generation queue: the running job first, then the waiting ones (movable, removable), then
the last few finished ones with a thumbnail, so variations can be told apart at a glance, and every job
cancelled this session."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.panorama.request import PANORAMA_PREFIX, GenerationRequest
from dit360_desktop.ui.common.jobs import FinishedJob, JobInfo, JobStatus
from dit360_desktop.ui.widgets.icons import icon

if TYPE_CHECKING:
    import numpy as np

_STATUS_TEXT = {
    JobStatus.RUNNING: "▶ running",
    JobStatus.CANCELLING: "■ stopping",
    JobStatus.QUEUED: "waiting",
}
# Finished rows kept under the waiting ones; older ones are in the history gallery. Cancelled rows are not
# in the gallery, so they stay until the app closes.
MAX_DONE_ROWS = 8
CANCELLED = "✕ cancelled"
THUMB_SIZE = QSize(64, 32)


def describe(request: GenerationRequest, status: str) -> str:
    """Two lines: the prompt (without the fixed panorama sentence), then status, seed and size. The status
    comes first, so the narrow column never cuts off which job runs; then the seed, which tells variations
    apart."""
    prompt = " ".join(request.prompt.split())
    prompt = prompt.removeprefix(PANORAMA_PREFIX).strip() or prompt
    seed = "random seed" if request.seed is None else f"seed {request.seed}"
    first = f"{prompt[:48]}{'…' if len(prompt) > 48 else ''}"
    return f"{first}\n{status} · {seed} · {request.width}×{request.height}"


def thumbnail(image: np.ndarray) -> QIcon:
    """A 64×32 icon of an HxWx3 uint8 panorama (smooth-scaled once, when the job finishes)."""
    import numpy as np

    rgb = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    height, width = rgb.shape[:2]
    qimage = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    scaled = qimage.scaled(
        THUMB_SIZE, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
    )
    return QIcon(QPixmap.fromImage(scaled))


# A cancelled job has no picture: a dark tile of the thumbnails' size with a cross, so its row lines up with
# the finished ones and reads as "nothing came of it" (a bare stop icon looked like a blank white box).
CANCELLED_TILE = "#262b35"


def cancelled_tile() -> QIcon:
    pixmap = QPixmap(THUMB_SIZE)
    pixmap.fill(QColor(CANCELLED_TILE))
    painter = QPainter(pixmap)
    side = THUMB_SIZE.height() - 8
    cross = QRect(0, 0, side, side)
    cross.moveCenter(pixmap.rect().center())
    icon("remove").paint(painter, cross)
    painter.end()
    return QIcon(pixmap)


class QueuePanel(QWidget):
    remove_requested = Signal(int)
    move_requested = Signal(int, int)  # job id, offset
    clear_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("QueuePanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.list = QListWidget()
        self.list.setObjectName("QueueList")
        self.list.setAlternatingRowColors(True)
        self.list.setMinimumHeight(48)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        # A long row wraps instead of losing its end to the column's width.
        self.list.setWordWrap(True)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setIconSize(THUMB_SIZE)
        self.list.setToolTip(
            "Generations in order. The first one runs; the others wait their turn. Finished ones follow."
        )
        self.list.currentRowChanged.connect(self._update_buttons)
        layout.addWidget(self.list, 1)
        self.empty_label = QLabel("Nothing queued. Ctrl+Enter generates; Ctrl+Shift+Enter queues variations.")
        self.empty_label.setObjectName("Hint")
        self.empty_label.setWordWrap(True)
        layout.addWidget(self.empty_label)

        row = QHBoxLayout()
        self.up_button = self._button("up", "Move the selected waiting generation earlier.", row)
        self.down_button = self._button("down", "Move the selected waiting generation later.", row)
        self.remove_button = self._button(
            "remove", "Remove the selected waiting generation, or stop the running one.", row
        )
        row.addStretch(1)
        self.clear_button = self._button(
            "clear", "Remove every waiting generation (the running one continues).", row
        )
        layout.addLayout(row)
        self.up_button.clicked.connect(lambda: self._move(-1))
        self.down_button.clicked.connect(lambda: self._move(1))
        self.remove_button.clicked.connect(self._remove)
        self.clear_button.clicked.connect(self.clear_requested)
        self._jobs: list[JobInfo] = []
        # (job id, text, tooltip, icon) of finished and cancelled jobs, newest first.
        self._done: list[tuple[int, str, str, QIcon]] = []
        self.set_jobs([])

    @staticmethod
    def _button(name: str, tip: str, row: QHBoxLayout) -> QToolButton:
        button = QToolButton()
        button.setObjectName(f"Queue_{name}")
        button.setIcon(icon(name))
        button.setToolTip(tip)
        row.addWidget(button)
        return button

    def sizeHint(self) -> QSize:
        # A narrow column beside the viewer.
        return QSize(230, 400)

    def set_jobs(self, jobs: list[JobInfo]) -> None:
        selected = self.selected_job()
        self._jobs = list(jobs)
        self.list.blockSignals(True)
        self.list.clear()
        for job in self._jobs:
            item = QListWidgetItem(describe(job.request, _STATUS_TEXT[job.status]))
            item.setData(Qt.ItemDataRole.UserRole, job.job_id)
            item.setToolTip(job.request.prompt)
            self.list.addItem(item)
            if selected is not None and job.job_id == selected.job_id:
                self.list.setCurrentItem(item)
        for job_id, text, tip, done_icon in self._done:
            item = QListWidgetItem(done_icon, text)
            item.setData(Qt.ItemDataRole.UserRole, job_id)
            item.setToolTip(tip)
            # Finished rows in the palette's muted text colour, so the waiting and running ones stand out.
            item.setForeground(self.palette().placeholderText())
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.empty_label.setVisible(not self._jobs and not self._done)
        self._update_buttons()

    def add_finished(self, finished: FinishedJob) -> None:
        """Keep a finished job as a row with its thumbnail, seed and size (newest first)."""
        seconds = sum(float(v) for v in finished.metadata.get("timings", {}).values())
        text = describe(finished.request, f"done in {seconds:.1f} s")
        self._done.insert(0, (finished.job_id, text, finished.request.prompt, thumbnail(finished.image)))
        finished_rows = [row for row in self._done if CANCELLED not in row[1]]
        for row in finished_rows[MAX_DONE_ROWS:]:
            self._done.remove(row)
        self.set_jobs(self._jobs)

    def add_cancelled(self, job_id: int, request: GenerationRequest) -> None:
        """Keep a cancelled job as a "cancelled" row until the app closes (it is in no gallery)."""
        self._done.insert(0, (job_id, describe(request, CANCELLED), request.prompt, cancelled_tile()))
        self.set_jobs(self._jobs)

    def done_rows(self) -> list[str]:
        return [text for _, text, _, _ in self._done]

    def jobs(self) -> list[JobInfo]:
        return list(self._jobs)

    def selected_job(self) -> JobInfo | None:
        row = self.list.currentRow()
        return self._jobs[row] if 0 <= row < len(self._jobs) else None

    def select_job(self, job_id: int) -> None:
        for row, job in enumerate(self._jobs):
            if job.job_id == job_id:
                self.list.setCurrentRow(row)

    def _update_buttons(self) -> None:
        job = self.selected_job()
        queued = [j for j in self._jobs if j.status is JobStatus.QUEUED]
        is_queued = job is not None and job.status is JobStatus.QUEUED
        self.up_button.setEnabled(is_queued and job is not queued[0])
        self.down_button.setEnabled(is_queued and job is not queued[-1])
        self.remove_button.setEnabled(job is not None and job.status is not JobStatus.CANCELLING)
        self.clear_button.setEnabled(bool(queued))

    def _move(self, offset: int) -> None:
        job = self.selected_job()
        if job is not None:
            self.move_requested.emit(job.job_id, offset)

    def _remove(self) -> None:
        job = self.selected_job()
        if job is None:
            return
        if job.status is JobStatus.QUEUED:
            self.remove_requested.emit(job.job_id)
        else:
            self.cancel_requested.emit()
