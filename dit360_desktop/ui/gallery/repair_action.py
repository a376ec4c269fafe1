"""History entry → Repair…: Fix seam and/or Fix poles of a library panorama (``core/repair.py``, run as a
queued job by the generation worker). The result is saved as a new entry linked to its parent."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.request import PANORAMA_PREFIX, GenerationRequest

log = logging.getLogger(__name__)


class RepairDialog(QDialog):
    def __init__(self, entry: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Repair panorama")
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Regenerates only the chosen regions with a masked edit; every other pixel is kept. "
            "The result is saved as a new entry linked to this one."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.seam = QCheckBox("Fix seam: regenerate a band around the 0/360° seam")
        self.seam.setChecked(True)
        self.poles = QCheckBox("Fix poles: regenerate the caps above ±75° in perspective views")
        self.strength = QDoubleSpinBox()
        self.strength.setRange(0.05, 1.0)
        self.strength.setSingleStep(0.05)
        self.strength.setValue(0.75)
        self.strength.setToolTip("How much the repaired regions may change (img2img strength).")
        form = QFormLayout()
        form.addRow(self.seam)
        form.addRow(self.poles)
        form.addRow("Strength", self.strength)
        layout.addLayout(form)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Repair")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.seam.toggled.connect(self._update)
        self.poles.toggled.connect(self._update)

    def _update(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(self.seam.isChecked() or self.poles.isChecked())


def repair_request(entry: Any) -> GenerationRequest:
    """The prompt and sampling settings of the entry's own request (a fresh seed), else the defaults."""
    stored = (entry.metadata or {}).get("request") if entry is not None else None
    if isinstance(stored, dict):
        try:
            request = GenerationRequest.from_dict(stored)
            return request.replace(init_image=None, mask_image=None, seed=None)
        except (RequestError, TypeError, ValueError) as e:
            log.info("Entry %s has unusable stored parameters (%s); repairing with the defaults", entry.id, e)
    return GenerationRequest(prompt=PANORAMA_PREFIX)


def repair_problem(entry: Any) -> str | None:
    """Why the entry cannot be repaired, in words, or None."""
    if entry is None:
        return "Select a panorama first."
    if entry.missing or not entry.path.is_file():
        return f"The image of this entry is missing ({entry.path})."
    if entry.width % 16 or entry.height % 16 or entry.width != 2 * entry.height:
        return (
            f"This panorama is {entry.width}×{entry.height}; a repair needs a 2:1 panorama whose sides are "
            "multiples of 16."
        )
    return None


def attach_repair(gallery: Any, worker: Any, window: QWidget) -> QAction:
    """Add "Repair…" to the gallery's entry context menu; it queues ``worker.enqueue_repair``."""
    from dit360_desktop.ui.common.jobs import RepairJob

    action = QAction("Repair seam/poles…", window)
    action.setObjectName("act_repair_entry")
    action.setToolTip(
        "Fix the 0/360° seam and/or the poles; the result is saved as a new entry linked to this one."
    )

    def run() -> None:
        entry = gallery.current_entry()
        problem = repair_problem(entry)
        if problem is not None:
            QMessageBox.information(window, "Repair", problem)
            return
        dialog = RepairDialog(entry, window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        job = RepairJob(
            source=entry.path,
            seam=dialog.seam.isChecked(),
            poles=dialog.poles.isChecked(),
            strength=dialog.strength.value(),
        )
        worker.enqueue_repair(job, repair_request(entry))

    action.triggered.connect(run)
    gallery.add_entry_action(action)
    return action
