"""The export dialog: format, size and where the files go (the panel runs the export itself)."""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from pathlib import Path

import numpy as np
import shiboken6
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
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.history.entry import Entry
from dit360_desktop.history.export import (
    MAX_FACE_SIZE,
    ExportOptions,
    default_file_name,
    existing_outputs,
)
from dit360_desktop.panorama import features
from dit360_desktop.panorama.hdr import MAX_HIGHLIGHT_STOPS
from dit360_desktop.panorama.projection import equirect_to_perspective
from dit360_desktop.ui.common.camera import CameraView, ViewMode
from dit360_desktop.ui.widgets.dialogs import remembered_folder
from dit360_desktop.ui.widgets.view_export import ViewExportForm, format_for_suffix

log = logging.getLogger(__name__)

FORMAT_LABELS = {
    "jpeg-gpano": "360° JPEG (GPano, for Google Photos, Facebook, Kuula)",
    "png": "360° PNG with parameters",
    "cubemap": "Cubemap: six faces px nx py ny pz nz (three.js, Blender)",
    "cubemap-cross": "Cubemap: horizontal cross (Unity)",
    "perspective": "Perspective view",
    "exr": "HDR environment: OpenEXR, linear half-float (Blender, Unreal, Houdini)",
    "hdr": "HDR environment: Radiance .hdr (tools without EXR)",
}


def offered_formats() -> dict[str, str]:
    """The export kinds this installation can write: the EXR kind only with the OpenEXR library."""
    exr = features.is_available("exr")
    return {key: label for key, label in FORMAT_LABELS.items() if key != "exr" or exr}


def default_export_folder() -> Path:
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    return Path(pictures) if pictures else Path.home()


# The 360° files keep the GPano marker when the parameters are stripped; derived pictures have none.
_PANORAMA_FORMATS = ("jpeg-gpano", "png")
_CUBE_FORMATS = ("cubemap", "cubemap-cross")
# A cross is one picture: its file's suffix follows the face format (history.export writes by suffix).
_CROSS_SUFFIXES = {"png": ".png", "jpeg": ".jpg", "exr": ".exr"}


class ExportDialog(QDialog):
    """Export one library entry. A perspective view starts from what the viewer shows (``view``), with a
    live preview; only the fields the chosen format uses are shown; the folder is remembered per format
    in ``folders`` (the settings' last_folders)."""

    def __init__(
        self, entry: Entry, parent: QWidget | None = None, *, initial_format: str = "jpeg-gpano",
        folder: Path | None = None, view: CameraView | None = None,
        folders: MutableMapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.setObjectName("ExportDialog")
        self.setWindowTitle("Export panorama")
        self._entry = entry
        self._folder = folder
        self._folders = folders if folders is not None else {}
        self._preview_source: np.ndarray | None = None
        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)

        self.format = QComboBox()
        for key, label in offered_formats().items():
            self.format.addItem(label, key)
        form.addRow("Format", self.format)

        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setValue(92)
        self.quality.setToolTip("Higher keeps more detail in a larger file.")
        form.addRow("JPEG quality", self.quality)
        self.strip = QCheckBox()
        self.strip.setToolTip("Leave the prompt and settings out of the file.")
        form.addRow("", self.strip)

        self.face_size = QSpinBox()
        self.face_size.setRange(16, MAX_FACE_SIZE)
        self.face_size.setValue(max(16, entry.width // 4))
        self.face_size.setSuffix(" px")
        self.face_size.setToolTip(
            "Edge of each cube face; a quarter of the panorama's width keeps its detail."
        )
        form.addRow("Face size", self.face_size)
        self.face_format = QComboBox()
        self.face_format.addItem("PNG", "png")
        self.face_format.addItem("JPEG", "jpeg")
        if features.is_available("exr"):
            self.face_format.addItem("EXR (linear, half-float)", "exr")
        self.face_format.setToolTip("EXR faces hold linear light for 3D tools, as the EXR export does.")
        form.addRow("Face files", self.face_format)
        self.highlights = QDoubleSpinBox()
        self.highlights.setRange(0.0, MAX_HIGHLIGHT_STOPS)
        self.highlights.setSingleStep(0.5)
        self.highlights.setDecimals(1)
        self.highlights.setSuffix(" stops")
        self.highlights.setSpecialValueText("Off (exact sRGB → linear)")
        self.highlights.setToolTip(
            "Brightens only the brightest regions (the sun, lamps) by up to this many stops, so the map "
            "lights a scene instead of looking flat. 0 keeps every value the exact linear conversion."
        )
        form.addRow("Highlights", self.highlights)

        self.view_form = ViewExportForm(
            view or CameraView(0.0, 0.0, 90.0, ViewMode.PERSPECTIVE), self._render_preview, self
        )
        form.addRow(self.view_form)
        # The names the perspective fields had before the form (and the tests) use.
        self.yaw, self.pitch, self.fov = self.view_form.yaw, self.view_form.pitch, self.view_form.fov
        self.view_width, self.view_height = self.view_form.width_spin, self.view_form.height_spin

        path_row = QHBoxLayout()
        self.path = QLineEdit()
        browse = QPushButton("Browse…")
        browse.setToolTip("Choose where the export goes.")
        browse.clicked.connect(self._browse)
        path_row.addWidget(self.path, 1)
        path_row.addWidget(browse)
        form.addRow("Save to", path_row)

        self._rows = {
            "face": self.face_size,
            "face_format": self.face_format,
            "highlights": self.highlights,
            "view": self.view_form,
        }
        self._form = form
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

        self.format.currentIndexChanged.connect(self._format_changed)
        self.face_format.currentIndexChanged.connect(self._face_format_changed)
        self.view_form.changed.connect(self._view_changed)
        self.format.setCurrentIndex(max(0, self.format.findData(initial_format)))
        self._format_changed()

    def selected_format(self) -> str:
        return str(self.format.currentData())

    def options(self) -> ExportOptions:
        perspective = self.selected_format() == "perspective"
        return ExportOptions(
            format=self.selected_format(),
            quality=self.view_form.quality.value() if perspective else self.quality.value(),
            strip_metadata=self.strip.isChecked(),
            face_size=self.face_size.value(),
            face_format=str(self.face_format.currentData()),
            yaw=self.yaw.value(),
            pitch=self.pitch.value(),
            fov=self.fov.value(),
            size=(self.view_width.value(), self.view_height.value()),
            highlight_stops=self.highlights.value() if self._is_linear() else 0.0,
        )

    def _is_linear(self) -> bool:
        fmt = self.selected_format()
        return fmt in ("exr", "hdr") or (fmt in _CUBE_FORMATS and self.face_format.currentData() == "exr")

    def output_path(self) -> Path:
        return Path(self.path.text()).expanduser()

    def folder_kind(self) -> str:
        return f"export-{self.selected_format()}"

    def accept(self) -> None:
        if self.selected_format() == "perspective":
            fmt = format_for_suffix(self.output_path().suffix)
            if fmt is not None:
                self.view_form.set_format(fmt)
            else:
                self.path.setText(f"{self.output_path()}{self.view_form.suffix()}")
        elif self.selected_format() == "cubemap-cross":
            self._match_cross_suffix()
        elif self.selected_format() in ("exr", "hdr"):
            suffix = f".{self.selected_format()}"
            if self.output_path().suffix.lower() != suffix:
                self.path.setText(f"{self.output_path()}{suffix}")
        replaced = existing_outputs(self.output_path(), self.options())
        if replaced and not self.confirm_overwrite(replaced):
            return
        # A cube map's path is the folder the faces go in; either way the parent is where they went.
        self._folders[self.folder_kind()] = str(self.output_path().parent)
        super().accept()

    def confirm_overwrite(self, replaced: list[Path]) -> bool:
        """Ask before an export replaces files; tests replace this."""
        names = ", ".join(path.name for path in replaced[:6]) + (" …" if len(replaced) > 6 else "")
        where = replaced[0].parent
        answer = QMessageBox.question(
            self,
            "Replace existing files?",
            f"{names} already exist{'s' if len(replaced) == 1 else ''} in {where}. Replace "
            f"{'it' if len(replaced) == 1 else 'them'}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _match_cross_suffix(self) -> None:
        """A typed .png/.jpg/.exr picks the cross's face format; any other name gets the format's suffix."""
        suffix = self.output_path().suffix.lower()
        chosen = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".exr": "exr"}.get(suffix)
        if chosen is not None:
            self.face_format.setCurrentIndex(self.face_format.findData(chosen))
        else:
            self.path.setText(f"{self.output_path()}{_CROSS_SUFFIXES[self._face_format()]}")

    def _start_folder(self) -> Path:
        return Path(
            remembered_folder(self._folders, self.folder_kind(), self._folder or default_export_folder())
        )

    def _format_changed(self) -> None:
        self._fields_changed()
        fmt = self.selected_format()
        options = ExportOptions(
            format=fmt, yaw=self.yaw.value(), pitch=self.pitch.value(), face_format=self._face_format()
        )
        name = default_file_name(self._entry, options)
        if fmt == "perspective":
            name = str(Path(name).with_suffix(self.view_form.suffix()))
        elif fmt == "cubemap-cross":
            name = str(Path(name).with_suffix(_CROSS_SUFFIXES[self._face_format()]))
        self.path.setText(str(self._start_folder() / name))
        if fmt == "perspective":
            self.view_form.update_preview()

    def _face_format(self) -> str:
        return str(self.face_format.currentData()) if self.selected_format() in _CUBE_FORMATS else "png"

    def _face_format_changed(self) -> None:
        self._fields_changed()
        if self.selected_format() == "cubemap-cross":
            path = self.output_path()
            self.path.setText(str(path.with_suffix(_CROSS_SUFFIXES[self._face_format()])))

    def _fields_changed(self) -> None:
        fmt = self.selected_format()
        jpeg_faces = fmt in _CUBE_FORMATS and self.face_format.currentData() == "jpeg"
        linear = self._is_linear()
        visible = {
            "face": fmt in _CUBE_FORMATS,
            "face_format": fmt in _CUBE_FORMATS,
            "highlights": linear,
            "view": fmt == "perspective",
        }
        for key, widget in self._rows.items():
            self._form.setRowVisible(widget, visible[key])
        # The perspective form has its own quality, shown for JPEG and WebP only.
        self._form.setRowVisible(self.quality, fmt == "jpeg-gpano" or jpeg_faces)
        # Linear files carry pixels only (no parameters to strip).
        self._form.setRowVisible(self.strip, not linear)
        self.strip.setText(
            "Strip prompt and parameters (keeps the 360° marker)"
            if fmt in _PANORAMA_FORMATS
            else "Strip prompt and parameters"
        )
        self.adjustSize()

    def _view_changed(self) -> None:
        if self.selected_format() == "perspective":
            path = self.output_path()
            if path.suffix.lower() != self.view_form.suffix():
                self.path.setText(str(path.with_suffix(self.view_form.suffix())))

    def _render_preview(self, view: CameraView, width: int, height: int) -> np.ndarray:
        if self._preview_source is None:
            from PIL import Image

            # A reduced copy: the preview is a few hundred pixels wide, and projecting from 1024 px
            # takes a few milliseconds where the full file would take a second.
            with Image.open(self._entry.path) as opened:
                small = opened.convert("RGB")
                small.thumbnail((1024, 512))
            self._preview_source = np.asarray(small)
        return equirect_to_perspective(self._preview_source, view.yaw, view.pitch, view.fov, width, height)

    def _browse(self) -> None:
        if self.selected_format() == "cubemap":
            chosen = QFileDialog.getExistingDirectory(
                self, "Folder for the six faces", str(self._start_folder())
            )
            if chosen:
                self.path.setText(str(Path(chosen) / default_file_name(self._entry, self.options())))
            return
        chosen, _ = QFileDialog.getSaveFileName(self, "Export panorama", self.path.text())
        if chosen:
            self.path.setText(chosen)
            if self.selected_format() == "perspective" and (fmt := format_for_suffix(Path(chosen).suffix)):
                self.view_form.set_format(fmt)


def export_chooser(
    parent: QWidget,
    current_view: Callable[[], CameraView | None],
    folders: MutableMapping[str, str],
) -> Callable[[Entry, str], tuple[Path, ExportOptions] | None]:
    """A ``GalleryPanel.choose_export`` whose dialog starts from the viewer's view and remembers folders."""

    def choose(entry: Entry, fmt: str) -> tuple[Path, ExportOptions] | None:
        dialog = ExportDialog(entry, parent, initial_format=fmt, view=current_view(), folders=folders)
        return run_export_dialog(dialog)

    return choose


def run_export_dialog(dialog: ExportDialog) -> tuple[Path, ExportOptions] | None:
    """Show ``dialog`` and read the choice; the dialog is deleted here, on the UI thread, when it closes.

    ``exec`` hands the dialog's ownership to Python, and the dialog is in reference cycles (its preview
    form holds its bound method): left alive, the garbage collector would delete it on whichever thread
    it runs on, the export thread the choice starts included (issue 21, item 1). ``deleteLater`` would
    come too late: the export starts before the event loop runs again.
    """
    try:
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.output_path(), dialog.options()
    finally:
        shiboken6.delete(dialog)
