"""The form that exports or snapshots one perspective view: it starts from what the viewer shows, has
size presets and a live preview, and shows only the fields the chosen file format uses.

Used by the viewer's snapshot (rendered by the GPU viewer) and the gallery's perspective export (rendered
on the CPU from the library file); each passes its own ``render(view, width, height)`` for the preview.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.ui.common.camera import CameraView, ViewMode

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SizePreset:
    label: str
    width: int
    height: int


SIZE_PRESETS = (
    SizePreset("Full HD 1920 × 1080", 1920, 1080),
    SizePreset("4K UHD 3840 × 2160", 3840, 2160),
    SizePreset("Square 2048 × 2048", 2048, 2048),
    SizePreset("Phone wallpaper 1080 × 1920", 1080, 1920),
)
CUSTOM = "Custom size"

# Picture formats of a view: (label, suffix, whether it has a quality setting).
VIEW_FORMATS = {
    "png": ("PNG (lossless)", ".png", False),
    "jpeg": ("JPEG", ".jpg", True),
    "webp": ("WebP", ".webp", True),
}
PREVIEW_BOX = (360, 240)
FOV_RANGE = (1.0, 170.0)  # what history.export accepts for a perspective view


def format_for_suffix(suffix: str) -> str | None:
    suffix = suffix.lower()
    if suffix == ".jpeg":
        return "jpeg"
    return next((key for key, (_label, s, _q) in VIEW_FORMATS.items() if s == suffix), None)


def preview_size(width: int, height: int, box: tuple[int, int] = PREVIEW_BOX) -> tuple[int, int]:
    """The preview's size: the export's aspect ratio inside ``box``."""
    scale = min(box[0] / width, box[1] / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


class ViewExportForm(QWidget):
    """Yaw, pitch, FOV, size (with presets), file format and quality, and a preview of the result."""

    changed = Signal()

    def __init__(
        self,
        view: CameraView,
        render: Callable[[CameraView, int, int], QImage | np.ndarray] | None,
        parent: QWidget | None = None,
        *,
        file_format: str = "png",
    ) -> None:
        super().__init__(parent)
        self._render = render
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        form_box = QWidget()
        self.form = QFormLayout(form_box)
        self.form.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(form_box)

        start_fov = view.fov if view.mode in (ViewMode.PERSPECTIVE, ViewMode.SEAM) else 90.0
        self.yaw = _angle(
            -180.0, 180.0, view.yaw, "Turn: positive looks right. Starts where the viewer looks."
        )
        self.pitch = _angle(-90.0, 90.0, view.pitch if view.mode is not ViewMode.LITTLE_PLANET else 0.0,
                            "Tilt: positive looks up.")  # fmt: skip
        self.fov = _angle(*FOV_RANGE, min(max(start_fov, FOV_RANGE[0]), FOV_RANGE[1]),
                          "Horizontal field of view: smaller zooms in.")  # fmt: skip
        self.form.addRow("Yaw", self.yaw)
        self.form.addRow("Pitch", self.pitch)
        self.form.addRow("Field of view", self.fov)

        self.preset = QComboBox()
        self.preset.setObjectName("SizePreset")
        for preset in SIZE_PRESETS:
            self.preset.addItem(preset.label, (preset.width, preset.height))
        self.preset.addItem(CUSTOM, None)
        self.preset.setToolTip("Common picture sizes; choose Custom size to type your own.")
        self.form.addRow("Size", self.preset)
        size_box = QWidget()
        size_row = QHBoxLayout(size_box)
        size_row.setContentsMargins(0, 0, 0, 0)
        self.width_spin, self.height_spin = QSpinBox(), QSpinBox()
        for spin, tip in ((self.width_spin, "Width in pixels"), (self.height_spin, "Height in pixels")):
            spin.setRange(16, 16384)
            spin.setSuffix(" px")
            spin.setToolTip(tip)
        size_row.addWidget(self.width_spin)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height_spin)
        self._size_box = size_box
        self.form.addRow("", size_box)

        self.file_format = QComboBox()
        self.file_format.setObjectName("ViewFormat")
        for key, (label, _suffix, _quality) in VIEW_FORMATS.items():
            self.file_format.addItem(label, key)
        self.file_format.setToolTip("PNG keeps every pixel; JPEG and WebP are smaller.")
        self.form.addRow("File type", self.file_format)
        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setValue(92)
        self.quality.setToolTip("Higher keeps more detail in a larger file.")
        self.form.addRow("Quality", self.quality)

        preview_box = QVBoxLayout()
        self.preview = QLabel()
        self.preview.setObjectName("ExportPreview")
        self.preview.setFixedSize(*PREVIEW_BOX)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setToolTip("What will be saved (a small copy).")
        preview_box.addWidget(self.preview)
        preview_box.addStretch(1)
        layout.addLayout(preview_box)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(60)  # one preview per burst of spin-box steps
        self._timer.timeout.connect(self.update_preview)
        self.preset.currentIndexChanged.connect(self._preset_chosen)
        for spin in (self.yaw, self.pitch, self.fov, self.width_spin, self.height_spin):
            spin.valueChanged.connect(self._edited)
        self.width_spin.valueChanged.connect(self._size_typed)
        self.height_spin.valueChanged.connect(self._size_typed)
        self.file_format.currentIndexChanged.connect(self._format_chosen)
        self.quality.valueChanged.connect(self.changed)

        index = self.file_format.findData(file_format)
        self.file_format.setCurrentIndex(max(0, index))
        self._format_chosen()
        self._preset_chosen()

    # ---- values ------------------------------------------------------------------------------------

    def view(self) -> CameraView:
        return CameraView(self.yaw.value(), self.pitch.value(), self.fov.value(), ViewMode.PERSPECTIVE)

    def picture_size(self) -> tuple[int, int]:
        return self.width_spin.value(), self.height_spin.value()

    def selected_format(self) -> str:
        return str(self.file_format.currentData())

    def suffix(self) -> str:
        return VIEW_FORMATS[self.selected_format()][1]

    def set_format(self, key: str) -> None:
        index = self.file_format.findData(key)
        if index >= 0:
            self.file_format.setCurrentIndex(index)

    # ---- reactions -----------------------------------------------------------------------------------

    def _preset_chosen(self) -> None:
        size = self.preset.currentData()
        custom = size is None
        self.form.setRowVisible(self._size_box, custom)
        if not custom:
            for spin, value in zip((self.width_spin, self.height_spin), size, strict=True):
                spin.blockSignals(True)
                spin.setValue(value)
                spin.blockSignals(False)
            self._edited()

    def _size_typed(self) -> None:
        if self.preset.currentData() is not None and self.preset.currentData() != self.picture_size():
            self.preset.setCurrentIndex(self.preset.count() - 1)

    def _format_chosen(self) -> None:
        self.form.setRowVisible(self.quality, VIEW_FORMATS[self.selected_format()][2])
        self.changed.emit()

    def _edited(self) -> None:
        self._timer.start()
        self.changed.emit()

    def update_preview(self) -> None:
        """Render the view small, now (the form does it itself shortly after each change)."""
        import numpy as np

        if self._render is None:
            return
        width, height = preview_size(*self.picture_size())
        try:
            picture = self._render(self.view(), width, height)
        except Exception as e:  # a failed preview must not take the dialog down; the export reports it
            log.warning("export preview failed: %s", e)
            self.preview.setText("No preview")
            return
        if isinstance(picture, np.ndarray):
            from dit360_desktop.ui.common.image_input import rgb_to_qimage

            picture = rgb_to_qimage(np.ascontiguousarray(picture))
        self.preview.setPixmap(QPixmap.fromImage(picture))


def _angle(low: float, high: float, value: float, tip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setDecimals(1)
    spin.setSingleStep(1.0)
    spin.setSuffix("°")
    spin.setValue(round(value, 1))
    spin.setToolTip(tip)
    return spin


def save_view_picture(pixels: np.ndarray, path: Path, file_format: str, quality: int = 92) -> Path:
    """Write an RGB view as PNG, JPEG or WebP, atomically (a failed write leaves no half file)."""
    import io

    import numpy as np
    from PIL import Image

    from dit360_desktop.panorama.fileio import write_atomic

    if file_format not in VIEW_FORMATS:
        raise ValueError(f"unknown picture format {file_format!r}")
    image = Image.fromarray(np.ascontiguousarray(pixels[..., :3]), "RGB")
    buffer = io.BytesIO()
    if file_format == "png":
        image.save(buffer, format="PNG", compress_level=6)
    elif file_format == "jpeg":
        image.save(
            buffer, format="JPEG", quality=quality, optimize=True, subsampling=0 if quality >= 90 else 2
        )
    else:
        image.save(buffer, format="WEBP", quality=quality, method=4)
    return write_atomic(Path(path), buffer.getvalue())
