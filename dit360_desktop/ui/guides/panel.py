"""The Guides panel (docs/guides.md): structure control, a reference image and regional prompts, bound to
the generation form like the parameters panel: every widget reads from and writes to the form's fields
(``control_*``, ``reference_*``, ``regions_*``), so a run, "Re-use parameters" and the settings carry them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.panorama.request import PARAMETERS
from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.widgets.form_widgets import SliderSpin

IMAGES = "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff)"

CONTROL_NEEDS = (
    "Needs a FLUX.1 Control LoRA file: FLUX.1-Depth-dev-lora for a depth map, FLUX.1-Canny-dev-lora for "
    "edges (Black Forest Labs, FLUX.1 [dev] licence)."
)
REFERENCE_NEEDS = (
    "Needs FLUX.1-Redux-dev (gated, FLUX.1 [dev] licence): download flux1-redux-dev in the model manager."
)
REGIONS_NEEDS = "A JSON list of up to 8 {prompt, mask}; masks are 2:1 pictures, white = the region."


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
            self.form.set(self.name, str(Path(path)))

    def _show(self, value: str | None) -> None:
        self.edit.setText(value or "")
        self.edit.setToolTip(value or f"{self.caption}: none chosen")


class GuidesPanel(QGroupBox):
    def __init__(self, form: GenerationForm, parent: QWidget | None = None) -> None:
        super().__init__("Guides", parent)
        self.form = form
        layout = QVBoxLayout(self)
        self.control_image = PathRow(form, "control_image", "Control image", filter=IMAGES)
        self.control_lora = PathRow(form, "control_lora", "Control LoRA", filter="LoRA (*.safetensors)")
        self.reference_image = PathRow(form, "reference_image", "Reference image", filter=IMAGES)
        self.reference_model = PathRow(form, "reference_model", "FLUX.1-Redux-dev folder", folder=True)
        self.regions_file = PathRow(form, "regions_file", "Regions file", filter="Regions (*.json)")
        layout.addWidget(
            self._group(
                "Structure control",
                CONTROL_NEEDS,
                [("Image", self.control_image), ("Control LoRA", self.control_lora)],
                ["control_scale", "control_start", "control_end"],
            )
        )
        layout.addWidget(
            self._group(
                "Reference image",
                REFERENCE_NEEDS,
                [("Image", self.reference_image), ("Redux model", self.reference_model)],
                ["reference_strength"],
            )
        )
        layout.addWidget(
            self._group("Regional prompts", REGIONS_NEEDS, [("File", self.regions_file)], ["regions_until"])
        )
        form.subscribe("reference_image", self._default_redux)

    def _group(self, title: str, needs: str, paths, numbers: list[str]) -> QGroupBox:
        box = QGroupBox(title)
        grid = QGridLayout(box)
        note = QLabel(needs)
        note.setWordWrap(True)
        note.setObjectName("HintLabel")
        grid.addWidget(note, 0, 0, 1, 2)
        row = 1
        for label, widget in paths:
            grid.addWidget(QLabel(label), row, 0)
            grid.addWidget(widget, row, 1)
            row += 1
        for name in numbers:
            spec = PARAMETERS[name]
            spin = SliderSpin.for_spec(spec)
            spin.setValue(float(self.form[name]))
            spin.setToolTip(spec.help)
            spin.valueChanged.connect(lambda value, n=name: self.form.set(n, round(value, 3)))
            self.form.subscribe(name, lambda value, s=spin: s.setValue(float(value)))
            grid.addWidget(QLabel(spec.label), row, 0)
            grid.addWidget(spin, row, 1)
            row += 1
        return box

    def _default_redux(self, image: str | None) -> None:
        # The installed catalog model, when a reference is chosen and no Redux folder is set yet.
        if image is None or self.form["reference_model"] is not None:
            return
        from dit360_desktop.models.redux import installed_redux_model
        from dit360_desktop.panorama.errors import ModelMissingError

        try:
            self.form.set("reference_model", str(installed_redux_model()))
        except ModelMissingError:
            pass
