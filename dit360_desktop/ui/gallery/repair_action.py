"""History entry → Repair…: Fix seam and/or Fix poles of a library panorama (``core/repair.py``, run as a
queued job by the generation worker). The result is saved as a new entry linked to its parent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import Qt
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

from dit360_desktop.history.protection import kept_mask
from dit360_desktop.panorama.request import PANORAMA_PREFIX, GenerationRequest


class RepairDialog(QDialog):
    def __init__(self, entry: Any, parent: QWidget | None = None, kept_mask: Path | None = None) -> None:
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
        # The lineage marks pixels as the artist's (a placed photo, an edit's kept region): kept unless
        # the person unticks this.
        self.kept_mask = kept_mask
        self.keep_own = QCheckBox("Keep my own pixels (placed photo, regions kept in an edit)")
        self.keep_own.setChecked(kept_mask is not None)
        self.keep_own.setVisible(kept_mask is not None)
        self.keep_own.setToolTip("Untick to let the repair repaint them too.")
        form = QFormLayout()
        form.addRow(self.seam)
        form.addRow(self.poles)
        form.addRow(self.keep_own)
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
    """The prompt, sampling settings and seed of the entry's own request, else the defaults: a repair
    regenerates with the noise the panorama was made with, not a new random one."""
    from dit360_desktop.panorama.result import stored_request

    # The same start as the CLI's repair and upscale (cli/repair.py edit_template).
    stored = stored_request(entry.metadata) if entry is not None else None
    return stored or GenerationRequest(prompt=PANORAMA_PREFIX)


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
        dialog = RepairDialog(entry, window, kept_mask=kept_mask(gallery.library, entry))
        try:
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return
            job = RepairJob(
                source=entry.path,
                seam=dialog.seam.isChecked(),
                poles=dialog.poles.isChecked(),
                strength=dialog.strength.value(),
                kept_mask=dialog.kept_mask if dialog.keep_own.isChecked() else None,
            )
        finally:
            shiboken6.delete(dialog)  # exec hands it to Python: never left for a collection elsewhere
        queued.add(worker.enqueue_repair(job, repair_request(entry)))

    queued: set[int] = set()

    def finished(job: Any) -> None:
        report = (job.metadata or {}).get("repair")
        if job.job_id in queued and isinstance(report, dict):
            queued.discard(job.job_id)
            show_repair_report(window, report)

    action.triggered.connect(run)
    worker.job_finished.connect(finished)
    gallery.add_entry_action(action)
    return action


def repair_summary(report: dict[str, Any]) -> str:
    """The scores before → after and what was applied, from a repair's report (its entry's metadata)."""

    def pair(key: str, index: int | None = None) -> str:
        before, after = report.get(f"{key}_before"), report.get(f"{key}_after")
        if index is not None:
            before, after = before[index], after[index]
        return f"{before:.2f} → {after:.2f}"

    lines = [
        f"Seam score: {pair('seam')} (lower is better)",
        f"Pole smear: north {pair('poles', 0)}, south {pair('poles', 1)} (about 1 is fine)",
        "Applied: " + (", ".join(report.get("applied") or []) or "nothing"),
    ]
    if report.get("protected_pixels"):
        lines.append(f"{report['protected_pixels']} pixels of your own content were kept as they were.")
    return "\n".join(lines + list(report.get("notes") or []))


def show_repair_report(window: QWidget, report: dict[str, Any]) -> QMessageBox:
    """A non-modal note with the scores, so the next job is not held up."""
    box = QMessageBox(QMessageBox.Icon.Information, "Repair finished", repair_summary(report), parent=window)
    box.setObjectName("RepairReport")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box
