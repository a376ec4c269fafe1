"""History entry → Upscale…: a seam-aware ×2 or ×4 upscale of a library panorama, queued on the generation
worker (``core/upscale/job.py``); the dialog shows a rough time and memory estimate before it starts
(``panorama/sr_estimate.py``, from the model file's header only)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.panorama import features
from dit360_desktop.panorama.errors import DiT360Error
from dit360_desktop.panorama.sr_estimate import estimate_upscale
from dit360_desktop.ui.gallery.repair_action import repair_request

log = logging.getLogger(__name__)


def default_sr_model() -> tuple[Path | None, str]:
    """The installed catalog upscaler, or None and what to do about it."""
    from dit360_desktop.models.upscaler import UPSCALER_HINT, installed_sr_model

    try:
        return installed_sr_model(), ""
    except (DiT360Error, OSError, KeyError) as e:
        return None, f"{e} {UPSCALER_HINT}"


class UpscaleDialog(QDialog):
    def __init__(self, entry: Any, model: Path | None, note: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Upscale panorama")
        self.entry = entry
        self.model = model
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.scale = QComboBox()
        self.scale.addItem("×2", 2)
        self.scale.addItem("×4", 4)
        form.addRow("Scale", self.scale)
        model_row = QHBoxLayout()
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        choose = QPushButton("Choose…")
        choose.clicked.connect(self._choose_model)
        model_row.addWidget(self.model_label, 1)
        model_row.addWidget(choose)
        form.addRow("Model", model_row)
        self.tile = QSpinBox()
        self.tile.setRange(0, 4096)
        self.tile.setSingleStep(128)
        self.tile.setSpecialValueText("Auto")
        self.tile.setValue(0)
        self.tile.setToolTip("Tile side in pixels; Auto: 512 on the CPU, 1024 on a GPU.")
        form.addRow("Tile", self.tile)
        self.detail = QDoubleSpinBox()
        self.detail.setRange(0.0, 0.6)
        self.detail.setSingleStep(0.05)
        self.detail.setSpecialValueText("Off")
        self.detail.setToolTip(
            "DiT360 img2img at this strength over overlapping windows of the upscaled panorama "
            "(0.2–0.3 adds detail); needs the FLUX.1-dev model."
        )
        form.addRow("Detail", self.detail)
        layout.addLayout(form)
        self.estimate = QLabel()
        self.estimate.setObjectName("Hint")
        self.estimate.setWordWrap(True)
        layout.addWidget(self.estimate)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Upscale")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._note = note
        self.scale.currentIndexChanged.connect(self._update)
        self.tile.valueChanged.connect(self._update)
        self.detail.valueChanged.connect(self._update)
        self._update()

    def chosen_scale(self) -> int:
        return int(self.scale.currentData())

    def chosen_tile(self) -> int | None:
        return self.tile.value() or None

    def _choose_model(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self, "Super-resolution model", "", "safetensors (*.safetensors)"
        )
        if name:
            self.model = Path(name)
            self._update()

    def _update(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        if self.model is None:
            self.model_label.setText("none installed")
            self.estimate.setText(self._note)
            ok.setEnabled(False)
            return
        self.model_label.setText(self.model.name)
        try:
            tile = self.chosen_tile()
            cpu = estimate_upscale(
                self.entry.width, self.entry.height, self.chosen_scale(), self.model, tile=tile or 512
            )
            gpu = estimate_upscale(
                self.entry.width,
                self.entry.height,
                self.chosen_scale(),
                self.model,
                tile=tile or 1024,
                gpu=True,
            )
        except (OSError, ValueError, KeyError) as e:
            self.estimate.setText(f"{self.model.name} cannot be read as a safetensors model: {e}")
            ok.setEnabled(False)
            return
        detail = (
            "\nThe detail stage adds one DiT360 img2img run per overlapping 2048×1024 window."
            if self.detail.value() > 0
            else ""
        )
        self.estimate.setText(
            f"On the CPU: {cpu.describe()}.\nOn a GPU: {gpu.describe()}.\nRough estimates.{detail}"
        )
        ok.setEnabled(True)


def attach_upscale(gallery: Any, worker: Any, window: QWidget) -> QAction:
    """Add "Upscale…" to the gallery's entry context menu; it queues ``worker.enqueue_upscale``."""
    from dit360_desktop.ui.common.jobs import UpscaleJob

    action = QAction("Upscale…", window)
    action.setObjectName("act_upscale_entry")
    action.setToolTip("Upscale ×2 or ×4 with no seam; the result is saved as a new entry.")
    # An installation without the upscaler's libraries does not offer it (panorama/features.py).
    action.setVisible(features.is_available("upscale"))

    def run() -> None:
        if not features.is_available("upscale"):
            QMessageBox.information(window, "Upscale", features.unavailable_message("upscale"))
            return
        entry = gallery.current_entry()
        if entry is None or entry.missing or not entry.path.is_file():
            QMessageBox.information(window, "Upscale", "Select a panorama whose image is there first.")
            return
        model, note = default_sr_model()
        dialog = UpscaleDialog(entry, model, note, window)
        try:
            if dialog.exec() != QDialog.DialogCode.Accepted or dialog.model is None:
                return
            job = UpscaleJob(
                source=entry.path,
                scale=dialog.chosen_scale(),
                sr_model=dialog.model,
                tile=dialog.chosen_tile(),
                detail=dialog.detail.value(),
            )
        finally:
            shiboken6.delete(dialog)  # exec hands it to Python: never left for a collection elsewhere
        worker.enqueue_upscale(job, repair_request(entry))

    action.triggered.connect(run)
    gallery.add_entry_action(action)
    return action
