"""The Guides panel's widgets (Qt only: the panel is built before the first frame, so nothing here imports
numpy, Pillow or the brush; what acts on them lives in the controllers)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.guides.palette import SKETCH_SHADES
from dit360_desktop.ui.widgets.form_widgets import SliderSpin

if TYPE_CHECKING:
    from dit360_desktop.ui.painting.brush import Brush

# As panorama.regions.MAX_REGIONS (the engine's limit), without importing it before the first frame.
MAX_REGIONS = 8


class PathRow(QWidget):
    """A file (or folder) field of the form: the path, Choose… and Clear."""

    def __init__(
        self, form: GenerationForm, name: str, caption: str, *, folder: bool = False, filter: str = ""
    ) -> None:
        super().__init__()
        self.form, self.name, self.caption = form, name, caption
        self.edit = QLineEdit()
        self.edit.setReadOnly(True)
        self.edit.setPlaceholderText("none")
        choose, clear = QPushButton("Choose…"), QPushButton("Clear")
        self.choose_button, self.clear_button = choose, clear
        choose.setToolTip(f"Choose the {caption.lower()}")
        clear.setToolTip(f"Use no {caption.lower()}")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for widget in (self.edit, choose, clear):
            row.addWidget(widget)
        self._pick: Callable[[], str] = (
            (lambda: QFileDialog.getExistingDirectory(self, caption))
            if folder
            else (lambda: QFileDialog.getOpenFileName(self, caption, "", filter)[0])
        )
        choose.clicked.connect(self.choose)
        clear.clicked.connect(lambda: form.set(name, None))
        form.subscribe(name, self._show)
        self._show(form[name])

    def choose(self) -> None:
        path = self._pick()
        if path:
            self.chosen(Path(path))

    def chosen(self, path: Path) -> None:
        self.form.set(self.name, str(path))

    def _show(self, value: str | None) -> None:
        self.edit.setText(value or "")
        self.edit.setToolTip(value or f"{self.caption}: none chosen")


class DropPathRow(PathRow):
    """A picture field that also takes a file dropped on it; ``dropped(path)`` lets the panel check it
    before it reaches the form."""

    dropped = Signal(object)  # Path

    def __init__(self, form: GenerationForm, name: str, caption: str, *, filter: str = "") -> None:
        super().__init__(form, name, caption, filter=filter)
        self.setAcceptDrops(True)
        self.edit.setPlaceholderText("none: drop a picture here")

    def chosen(self, path: Path) -> None:
        self.dropped.emit(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _dropped_file(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if _dropped_file(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        path = _dropped_file(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.dropped.emit(path)


def _dropped_file(event) -> Path | None:
    mime = event.mimeData()
    if mime is None or not mime.hasUrls():
        return None
    files = [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]
    return Path(files[0]) if len(files) == 1 and files[0] else None


class NeedRow(QWidget):
    """ "X: installed", or "X: not installed" with "Open the model manager" under it."""

    def __init__(self) -> None:
        super().__init__()
        row = QVBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setObjectName("GuideNeed")
        self.button = QPushButton("Open the model manager")
        self.button.setToolTip("Download or import the model this guide needs.")
        self.button.setVisible(False)
        row.addWidget(self.label)
        row.addWidget(self.button, 0, Qt.AlignmentFlag.AlignLeft)

    def show_state(self, text: str, missing_component: str | None) -> None:
        self.label.setText(text)
        self.button.setVisible(missing_component is not None)


class SketchBox(QFrame):
    """The sketch's tools, shown under the control group's buttons while sketching."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("SketchBox")
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        hint = QLabel(
            "Drag on the panorama to draw; right-drag or Alt-drag looks around. White lines on black read "
            "as edges (Canny LoRA); greys as depth (Depth LoRA: near = bright)."
        )
        hint.setWordWrap(True)
        hint.setObjectName("HintLabel")
        grid.addWidget(hint, 0, 0, 1, 2)
        self.shade = QComboBox()
        self.shade.addItems(list(SKETCH_SHADES))
        self.shade.setToolTip("The grey level the brush draws in.")
        self.erase = QCheckBox("Erase")
        self.erase.setToolTip("Take away from the chosen shade.")
        shade_row = QHBoxLayout()
        shade_row.addWidget(self.shade, 1)
        shade_row.addWidget(self.erase)
        grid.addWidget(QLabel("Shade"), 1, 0)
        grid.addLayout(shade_row, 1, 1)
        self.size = SliderSpin(0.5, 45.0, 0.5, 1, 4.0, tooltip="Brush radius in degrees on the sphere.")
        grid.addWidget(QLabel("Size °"), 2, 0)
        grid.addWidget(self.size, 2, 1)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Take back the last stroke of this shade.")
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove the whole sketch.")
        self.use_button = QPushButton("Use as control image")
        self.use_button.setToolTip("Write the sketch as an equirect PNG and make it the control image.")
        self.done_button = QPushButton("Done")
        self.done_button.setToolTip("Stop sketching; the sketch is kept until the panorama changes.")
        buttons = QGridLayout()
        buttons.addWidget(self.use_button, 0, 0, 1, 2)
        buttons.addWidget(self.done_button, 0, 2)
        buttons.addWidget(self.undo_button, 1, 0)
        buttons.addWidget(self.clear_button, 1, 1)
        grid.addLayout(buttons, 3, 0, 1, 2)
        self.setVisible(False)

    def brush(self) -> Brush:
        from dit360_desktop.ui.painting.brush import Brush

        return Brush(radius_deg=self.size.value(), hardness=0.85, erase=self.erase.isChecked())

    def level(self) -> int:
        return SKETCH_SHADES[self.shade.currentText()]


class RegionRow(QWidget):
    paint_toggled = Signal(bool)
    remove_requested = Signal()

    def __init__(self, number: int, colour: tuple[int, int, int], prompt: str = "") -> None:
        super().__init__()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.swatch = QLabel()
        self.swatch.setFixedSize(14, 14)
        self.swatch.setStyleSheet("background: rgb({}, {}, {}); border: 1px solid #222;".format(*colour))
        self.swatch.setToolTip(f"Region {number} is shown in this colour on the sphere.")
        self.prompt = QLineEdit(prompt)
        self.prompt.setPlaceholderText(f"Region {number}: what belongs here")
        self.prompt.setToolTip(
            "The prompt of this region (its image tokens read it instead of the base prompt)."
        )
        self.paint = QToolButton()
        self.paint.setText("Paint")
        self.paint.setCheckable(True)
        self.paint.setToolTip("Paint this region's mask on the sphere.")
        self.paint.toggled.connect(self.paint_toggled)
        self.remove = QToolButton()
        self.remove.setText("Remove")
        self.remove.setToolTip("Remove this region.")
        self.remove.clicked.connect(self.remove_requested)
        for widget in (self.swatch, self.prompt, self.paint, self.remove):
            row.addWidget(widget)
        row.setStretch(1, 1)


class RegionList(QFrame):
    """The region rows and the commands under them."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("RegionList")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.rows_box = QVBoxLayout()
        layout.addLayout(self.rows_box)
        self.brush_row = QWidget()
        brush = QHBoxLayout(self.brush_row)
        brush.setContentsMargins(0, 0, 0, 0)
        self.size = SliderSpin(0.5, 45.0, 0.5, 1, 12.0, tooltip="Brush radius in degrees on the sphere.")
        self.erase = QCheckBox("Erase")
        self.erase.setToolTip("Take away from the region being painted.")
        brush.addWidget(QLabel("Brush °"))
        brush.addWidget(self.size, 1)
        brush.addWidget(self.erase)
        self.brush_row.setVisible(False)
        layout.addWidget(self.brush_row)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add region")
        self.add_button.setToolTip(f"A new region with its own prompt and mask (at most {MAX_REGIONS}).")
        self.use_button = QPushButton("Use these regions")
        self.use_button.setToolTip("Write the regions file (prompts and masks) and use it for the next run.")
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.use_button)
        layout.addLayout(buttons)

    def brush(self) -> Brush:
        from dit360_desktop.ui.painting.brush import Brush

        return Brush(radius_deg=self.size.value(), hardness=0.9, erase=self.erase.isChecked())
