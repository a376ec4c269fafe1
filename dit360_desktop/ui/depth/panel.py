"""The Depth & 3D panel of one panorama: estimate its depth (a worker job), show it on the sphere in false
colour, and export the depth, the mesh, the point cloud, the splats and a stereo pair."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.ui.depth.exports import FOLDER_KEY, KINDS, Export, with_suffix

log = logging.getLogger(__name__)

EYE_STEP_M = 0.05
PROGRESS_STEPS = 1000
# (right, up, forward) per key in the view's frame; (0, 0, 0) puts the eye back in the centre.
EYE_KEYS = {
    Qt.Key.Key_W: (0.0, 0.0, EYE_STEP_M),
    Qt.Key.Key_Up: (0.0, 0.0, EYE_STEP_M),
    Qt.Key.Key_S: (0.0, 0.0, -EYE_STEP_M),
    Qt.Key.Key_Down: (0.0, 0.0, -EYE_STEP_M),
    Qt.Key.Key_A: (-EYE_STEP_M, 0.0, 0.0),
    Qt.Key.Key_Left: (-EYE_STEP_M, 0.0, 0.0),
    Qt.Key.Key_D: (EYE_STEP_M, 0.0, 0.0),
    Qt.Key.Key_Right: (EYE_STEP_M, 0.0, 0.0),
    Qt.Key.Key_PageUp: (0.0, EYE_STEP_M, 0.0),
    Qt.Key.Key_PageDown: (0.0, -EYE_STEP_M, 0.0),
    Qt.Key.Key_0: (0.0, 0.0, 0.0),
}


@dataclass(frozen=True)
class DepthTarget:
    """A panorama file and, once estimated, its distance map (EXR) and whether that is in metres."""

    image: Path
    depth: Path | None = None
    metric: bool = False
    entry_id: int | None = None


class DepthPanel(QDialog):
    estimate_requested = Signal(object)  # DepthTarget
    stereo_requested = Signal(object, float, bool)  # DepthTarget, eye distance (m), fill with DiT360
    export_requested = Signal(object)  # Export
    show_depth_toggled = Signal(bool)
    cancel_requested = Signal()
    # While the parallax preview is on: the eye moved (right, up, forward) in metres, in the view's frame.
    eye_step = Signal(float, float, float)

    def __init__(self, folders: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("DepthPanel")
        self.setWindowTitle("Depth & 3D")
        self._folders = folders
        self.target: DepthTarget | None = None
        layout = QVBoxLayout(self)
        self.source_label = QLabel()
        self.source_label.setWordWrap(True)
        layout.addWidget(self.source_label)
        self.estimate_button = QPushButton("Estimate depth")
        self.estimate_button.setToolTip(
            "Depth Anything V2 on six views over the sphere, merged with no seam; runs in the queue "
            "(progress there, Esc cancels) and is saved as a history entry linked to this panorama."
        )
        self.estimate_button.clicked.connect(
            lambda: self.target and self.estimate_requested.emit(self.target)
        )
        layout.addWidget(self.estimate_button)
        self.state_label = QLabel()
        self.state_label.setObjectName("Hint")
        self.state_label.setWordWrap(True)
        layout.addWidget(self.state_label)
        self.model_button = QPushButton("Open model manager…")
        self.model_button.setObjectName("OpenModelManager")
        self.model_button.setToolTip(
            "The model manager with the depth model selected: download it or import a copy."
        )
        self.model_button.setVisible(False)
        layout.addWidget(self.model_button)
        self.show_depth = QCheckBox("Show the depth on the sphere (false colour: near = red, far = blue)")
        self.show_depth.toggled.connect(self.show_depth_toggled)
        layout.addWidget(self.show_depth)
        self.show_anaglyph = QCheckBox(
            "Preview the stereo pair on the sphere (red/cyan glasses, eye distance below)"
        )
        layout.addWidget(self.show_anaglyph)
        self.show_side_by_side = QCheckBox("Preview the stereo pair side by side (left eye on the left)")
        self.show_side_by_side.setToolTip(
            "The mesh below seen by two eyes the eye distance apart, each on its half of the 3D view "
            "(parallel viewing, or a headset's flat mode)."
        )
        layout.addWidget(self.show_side_by_side)
        self.show_parallax = QCheckBox(
            "Parallax preview: the mesh in the 3D view; W A S D / arrows move the eye"
        )
        self.show_parallax.setToolTip(
            "The mesh the GLB export writes (stride below, depth edges cut), seen from an eye up to 0.5 m "
            "off the centre; what the centre never saw shows as holes in magenta. In the 3D view: W A S D "
            "or the arrows move the eye 5 cm, Page Up/Down up and down, 0 back to the centre; drag to look."
        )
        layout.addWidget(self.show_parallax)
        self.eye_label = QLabel()
        self.eye_label.setObjectName("Hint")
        self.eye_label.setWordWrap(True)
        layout.addWidget(self.eye_label)

        box = QGroupBox("Export")
        grid = QGridLayout(box)
        options = QFormLayout()
        self.stride = QSpinBox()
        self.stride.setRange(1, 64)
        self.stride.setValue(2)
        self.stride.setToolTip("One vertex, point or splat per this many pixels.")
        options.addRow("Stride (mesh, points, splats)", self.stride)
        self.ipd = QDoubleSpinBox()
        self.ipd.setRange(0.0, 1.0)
        self.ipd.setDecimals(3)
        self.ipd.setSingleStep(0.005)
        self.ipd.setValue(0.064)
        self.ipd.setSuffix(" m")
        options.addRow("Eye distance (stereo)", self.ipd)
        grid.addLayout(options, 0, 0, 1, 2)
        self.export_buttons: dict[str, QPushButton] = {}
        for index, kind in enumerate(KINDS.values()):
            button = QPushButton(kind.label)
            button.setObjectName(f"export_{kind.key}")
            button.clicked.connect(lambda _=False, key=kind.key: self.choose_export(key))
            grid.addWidget(button, 1 + index // 2, index % 2)
            self.export_buttons[kind.key] = button
        layout.addWidget(box)
        stereo_box = QGroupBox("Stereo 360 in the history")
        stereo_layout = QVBoxLayout(stereo_box)
        self.fill = QCheckBox("Fill what one eye sees that the panorama does not with DiT360")
        self.fill.setToolTip(
            "The blend edit on each eye's holes; needs FLUX.1-dev. Off: the holes stay black."
        )
        self.fill.setChecked(True)
        stereo_layout.addWidget(self.fill)
        self.stereo_button = QPushButton("Make stereo (top/bottom, left eye on top)")
        self.stereo_button.setToolTip(
            "Runs in the queue with the eye distance above; saved as a history entry linked to this panorama."
        )
        self.stereo_button.clicked.connect(
            lambda: (
                self.target
                and self.stereo_requested.emit(self.target, self.ipd.value(), self.fill.isChecked())
            )
        )
        stereo_layout.addWidget(self.stereo_button)
        layout.addWidget(stereo_box)
        busy_row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setVisible(False)
        busy_row.addWidget(self.progress, 1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel_export")
        self.cancel_button.setToolTip(
            "Stop the export; the file is not written (an existing one stays as it was)."
        )
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        busy_row.addWidget(self.cancel_button)
        layout.addLayout(busy_row)
        self.set_target(None)

    # ---- state ---------------------------------------------------------------------------------------

    def set_target(self, target: DepthTarget | None) -> None:
        if target is None or target.depth is None:
            self.show_depth.setChecked(False)
            self.show_anaglyph.setChecked(False)
            self.show_parallax.setChecked(False)
            self.show_side_by_side.setChecked(False)
        self.target = target
        has_depth = target is not None and target.depth is not None
        self.source_label.setText(f"<b>{target.image.name}</b>" if target else "No panorama chosen.")
        self.estimate_button.setEnabled(target is not None)
        self.estimate_button.setText("Estimate depth again" if has_depth else "Estimate depth")
        self.show_depth.setEnabled(has_depth)
        self.show_anaglyph.setEnabled(has_depth)
        self.show_parallax.setEnabled(has_depth)
        self.show_side_by_side.setEnabled(has_depth)
        for button in [*self.export_buttons.values(), self.stereo_button]:
            button.setEnabled(has_depth)
        if not self.progress.isVisible():
            self.state_label.setText(
                f"Depth: {target.depth.name} ({'metres' if target.metric else 'relative, 3 m median in 3D'})"
                if has_depth
                else "No depth yet: estimate it first."
            )

    def show_model_missing(self, message: str | None) -> None:
        """Say that the depth model is missing, with the model manager one click away (None: it is not)."""
        self.model_button.setVisible(message is not None)
        if message is not None:
            self.state_label.setText(f"{message} The model manager downloads it, or imports a copy you have.")

    def set_busy(self, text: str | None, *, cancellable: bool = False) -> None:
        """Show ``text`` with a busy bar (None: idle); ``set_progress`` makes the bar determinate."""
        self.progress.setVisible(text is not None)
        self.cancel_button.setVisible(text is not None and cancellable)
        self.progress.setRange(0, 0)
        if text is not None:
            self.state_label.setText(text)
        else:
            self.set_target(self.target)

    def set_progress(self, fraction: float, text: str) -> None:
        """The running export's share done (0–1) and what it is doing."""
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setValue(round(min(max(fraction, 0.0), 1.0) * PROGRESS_STEPS))
        self.state_label.setText(text)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        moving = self.show_parallax.isChecked() or self.show_side_by_side.isChecked()
        step = EYE_KEYS.get(Qt.Key(event.key())) if moving else None
        if step is None:
            super().keyPressEvent(event)
            return
        self.eye_step.emit(*step)
        event.accept()

    # ---- exports -------------------------------------------------------------------------------------

    def choose_export(self, key: str) -> None:
        target = self.target
        if target is None or target.depth is None:
            return
        kind = KINDS[key]
        folder = Path(self._folders.get(FOLDER_KEY) or target.image.parent)
        default = folder / f"{target.image.stem}-{key}{kind.suffix}"
        name = self.ask_path(kind.label.rstrip("…"), default, kind.file_filter)
        if not name:
            return
        path = with_suffix(Path(name), key)
        if path.exists() and not self.confirm_overwrite(path):
            return
        self._folders[FOLDER_KEY] = str(path.parent)
        self.export_requested.emit(
            Export(key, path, stride=self.stride.value(), ipd=self.ipd.value(), metric=target.metric)
        )

    def ask_path(self, title: str, default: Path, file_filter: str) -> str:
        """The file to write (tests replace this); the overwrite question is ours (``confirm_overwrite``)."""
        name, _ = QFileDialog.getSaveFileName(
            self, title, str(default), file_filter, options=QFileDialog.Option.DontConfirmOverwrite
        )
        return name

    def confirm_overwrite(self, path: Path) -> bool:
        """Ask before an export replaces a file; tests replace this."""
        answer = QMessageBox.question(
            self,
            "Replace existing file?",
            f"{path.name} already exists in {path.parent}. Replace it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes


def load_pair(target: DepthTarget) -> tuple[np.ndarray, np.ndarray]:
    """The panorama (RGB uint8) and its distance map, read off the UI thread by the caller."""
    from dit360_desktop.panorama.depthmap import read_distance
    from dit360_desktop.panorama.userimage import load_user_image

    assert target.depth is not None
    return np.asarray(load_user_image(target.image).convert("RGB")), read_distance(target.depth)


Loader = Callable[[DepthTarget], tuple[np.ndarray, np.ndarray]]
