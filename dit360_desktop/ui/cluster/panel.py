"""The cluster queue: which worker runs each job, its step, and how it ended."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.panorama.request import PANORAMA_PREFIX, GenerationRequest

if TYPE_CHECKING:
    import numpy as np

# The running job's latest preview, as the row's icon (2:1, like the panorama).
PREVIEW_SIZE = QSize(48, 24)


@dataclass(frozen=True)
class ClusterRow:
    job_id: str
    prompt: str
    seed: int | None
    state: str = "waiting"
    worker: str = ""
    step: int = 0
    total: int = 0
    detail: str = ""

    @property
    def text(self) -> str:
        prompt = " ".join(self.prompt.split()).removeprefix(PANORAMA_PREFIX).strip() or self.prompt
        prompt = prompt[:50] + ("…" if len(prompt) > 50 else "")
        seed = "random seed" if self.seed is None else f"seed {self.seed}"
        if self.state == "running":
            where = f"▶ {self.worker}" + (f" · step {self.step}/{self.total}" if self.total else " · loading")
        elif self.state == "waiting" and self.worker:
            where = f"waiting (retry; lost {self.worker})"
        else:
            where = self.state + (f" on {self.worker}" if self.worker and self.state == "done" else "")
        tail = f" · {self.detail}" if self.detail else ""
        return f"{where} · {prompt} · {seed}{tail}"


class ClusterPanel(QWidget):
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ClusterPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.status_label = QLabel(
            "No cluster run. Generate → Send queue to cluster… sends the waiting jobs."
        )
        self.status_label.setObjectName("Hint")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        self.list = QListWidget()
        self.list.setObjectName("ClusterList")
        self.list.setAlternatingRowColors(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setIconSize(PREVIEW_SIZE)
        layout.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.workers_label = QLabel("")
        row.addWidget(self.workers_label, 1)
        self.stop_button = QPushButton("Stop cluster run")
        self.stop_button.setToolTip("Cancel the waiting cluster jobs and stop the running ones.")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop_requested)
        row.addWidget(self.stop_button)
        layout.addLayout(row)
        self._rows: dict[str, ClusterRow] = {}
        self._items: dict[str, QListWidgetItem] = {}
        self._workers: set[str] = set()

    def sizeHint(self) -> QSize:
        return QSize(300, 170)

    def start(self, address: str, jobs: list[tuple[str, GenerationRequest]]) -> None:
        self.list.clear()
        self._rows.clear()
        self._items.clear()
        self._workers.clear()
        self.workers_label.setText("Starting workers…")
        self.status_label.setText(f"Running {len(jobs)} job(s) on {address}.")
        self.stop_button.setEnabled(True)
        for job_id, request in jobs:
            self._rows[job_id] = ClusterRow(job_id, request.prompt, request.seed)
            item = QListWidgetItem(self._rows[job_id].text)
            item.setToolTip(request.prompt)
            self.list.addItem(item)
            self._items[job_id] = item

    def update_job(self, job_id: str, **changes: object) -> None:
        row = self._rows.get(job_id)
        if row is None:
            return
        self._rows[job_id] = row = replace(row, **changes)
        self._items[job_id].setText(row.text)

    def set_preview(self, job_id: str, pixels: np.ndarray) -> None:
        import numpy as np

        item = self._items.get(job_id)
        if item is None:
            return
        pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
        height, width = pixels.shape[:2]
        image = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
        pixmap = QPixmap.fromImage(image).scaled(
            PREVIEW_SIZE, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        item.setIcon(QIcon(pixmap))

    def row(self, job_id: str) -> ClusterRow | None:
        return self._rows.get(job_id)

    def worker_joined(self, label: str) -> None:
        self._workers.add(label)
        self.workers_label.setText(f"{len(self._workers)} worker(s) ready")

    def worker_gone(self, label: str) -> None:
        self._workers.discard(label)
        self.workers_label.setText(f"{len(self._workers)} worker(s) ready")

    def finish(self, message: str) -> None:
        self.status_label.setText(message)
        self.stop_button.setEnabled(False)
