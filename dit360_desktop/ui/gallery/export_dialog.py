"""The export dialog: format, size and where the files go (the panel runs the export itself)."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.history.entry import Entry
from dit360_desktop.history.export import MAX_FACE_SIZE, ExportOptions, default_file_name

log = logging.getLogger(__name__)

FORMAT_LABELS = {
    "jpeg-gpano": "360° JPEG (GPano, for Google Photos, Facebook, Kuula)",
    "png": "360° PNG with parameters",
    "cubemap": "Cubemap: six faces px nx py ny pz nz (three.js, Blender)",
    "cubemap-cross": "Cubemap: horizontal cross (Unity)",
    "perspective": "Perspective view",
}


def default_export_folder() -> Path:
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    return Path(pictures) if pictures else Path.home()


class ExportDialog(QDialog):
    def __init__(
        self, entry: Entry, parent: QWidget | None = None, *, initial_format: str = "jpeg-gpano",
        folder: Path | None = None,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle("Export panorama")
        self._entry = entry
        self._folder = folder or default_export_folder()
        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)

        self.format = QComboBox()
        for key, label in FORMAT_LABELS.items():
            self.format.addItem(label, key)
        form.addRow("Format", self.format)

        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setValue(92)
        self.quality.setToolTip("JPEG quality (also used for JPEG cube faces and views)")
        form.addRow("JPEG quality", self.quality)
        self.strip = QCheckBox("Strip prompt and parameters (keeps the 360° marker)")
        form.addRow("", self.strip)

        self.face_size = QSpinBox()
        self.face_size.setRange(16, MAX_FACE_SIZE)
        self.face_size.setValue(max(16, entry.width // 4))
        self.face_size.setSuffix(" px")
        form.addRow("Face size", self.face_size)
        self.face_format = QComboBox()
        self.face_format.addItem("PNG", "png")
        self.face_format.addItem("JPEG", "jpeg")
        form.addRow("Face files", self.face_format)

        self.yaw = _angle(-180, 180, 0, "Yaw: positive turns right")
        self.pitch = _angle(-90, 90, 0, "Pitch: positive looks up")
        self.fov = _angle(1, 170, 90, "Horizontal field of view")
        form.addRow("Yaw", self.yaw)
        form.addRow("Pitch", self.pitch)
        form.addRow("Field of view", self.fov)
        size_widget = QWidget()
        size_row = QHBoxLayout(size_widget)
        size_row.setContentsMargins(0, 0, 0, 0)
        self.view_width, self.view_height = QSpinBox(), QSpinBox()
        for spin, value in ((self.view_width, 1920), (self.view_height, 1080)):
            spin.setRange(16, 16384)
            spin.setValue(value)
            size_row.addWidget(spin)
        form.addRow("View size", size_widget)

        path_row = QHBoxLayout()
        self.path = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row.addWidget(self.path, 1)
        path_row.addWidget(browse)
        form.addRow("Save to", path_row)

        self._rows = {
            "quality": self.quality, "face": self.face_size, "face_format": self.face_format, "yaw": self.yaw,
            "pitch": self.pitch, "fov": self.fov, "view_size": size_widget,
        }  # fmt: skip
        self._form = form
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

        self.format.currentIndexChanged.connect(self._format_changed)
        self.format.setCurrentIndex(list(FORMAT_LABELS).index(initial_format))
        self._format_changed()

    def selected_format(self) -> str:
        return str(self.format.currentData())

    def options(self) -> ExportOptions:
        return ExportOptions(
            format=self.selected_format(),
            quality=self.quality.value(),
            strip_metadata=self.strip.isChecked(),
            face_size=self.face_size.value(),
            face_format=str(self.face_format.currentData()),
            yaw=self.yaw.value(),
            pitch=self.pitch.value(),
            fov=self.fov.value(),
            size=(self.view_width.value(), self.view_height.value()),
        )

    def output_path(self) -> Path:
        return Path(self.path.text()).expanduser()

    def _format_changed(self) -> None:
        fmt = self.selected_format()
        cube = fmt in ("cubemap", "cubemap-cross")
        visible = {
            "quality": fmt in ("jpeg-gpano", "perspective", "cubemap"),
            "face": cube,
            "face_format": fmt == "cubemap",
            "yaw": fmt == "perspective",
            "pitch": fmt == "perspective",
            "fov": fmt == "perspective",
            "view_size": fmt == "perspective",
        }
        for key, widget in self._rows.items():
            self._form.setRowVisible(widget, visible[key])
        options = ExportOptions(format=fmt, yaw=self.yaw.value(), pitch=self.pitch.value())
        self.path.setText(str(self._folder / default_file_name(self._entry, options)))

    def _browse(self) -> None:
        if self.selected_format() == "cubemap":
            chosen = QFileDialog.getExistingDirectory(self, "Folder for the six faces", str(self._folder))
            if chosen:
                self.path.setText(str(Path(chosen) / default_file_name(self._entry, self.options())))
            return
        chosen, _ = QFileDialog.getSaveFileName(self, "Export panorama", self.path.text())
        if chosen:
            self.path.setText(chosen)


def _angle(low: float, high: float, value: float, tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setDecimals(1)
    spin.setSuffix("°")
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin
