"""The Guides panel (docs/guides.md): structure control, a reference image and regional prompts, bound to
the generation form like the parameters panel: every widget reads from and writes to the form's fields
(``control_*``, ``reference_*``, ``regions_*``), so a run, "Re-use parameters" and the settings carry them.

The panel only builds and shows widgets; the controllers (``sketch.py``, ``regions_editor.py``,
``sources.py``, ``overlay.py``, ``needs.py``) act on what the user asks for.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.panorama.request import PARAMETERS
from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.guides.widgets import DropPathRow, NeedRow, PathRow, RegionList, SketchBox
from dit360_desktop.ui.widgets.form_widgets import SliderSpin

IMAGES = "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff)"

CONTROL_NEEDS = (
    "Needs a FLUX.1 Control LoRA file: FLUX.1-Depth-dev-lora for a depth map, FLUX.1-Canny-dev-lora for "
    "edges or a sketch (Black Forest Labs, FLUX.1 [dev] licence)."
)
REFERENCE_NEEDS = "Drop a picture on the image field, or choose one. Needs FLUX.1-Redux-dev (gated)."
REGIONS_NEEDS = (
    "Up to 8 regions, each a prompt and a mask painted on the sphere. No extra model; true CFG must be off."
)


def _note(text: str, name: str = "HintLabel") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setObjectName(name)
    return label


class GuidesPanel(QGroupBox):
    def __init__(self, form: GenerationForm, parent: QWidget | None = None) -> None:
        super().__init__("Guides", parent)
        self.form = form
        layout = QVBoxLayout(self)
        self.show_on_sphere = QCheckBox("Show the guides on the sphere")
        self.show_on_sphere.setToolTip(
            "Tint the control image (cyan) and each region's mask (in its colour) over the panorama."
        )
        layout.addWidget(self.show_on_sphere)
        self.notice = _note("", "GuidesNotice")
        self.notice.setVisible(False)
        layout.addWidget(self.notice)

        self.control_image = PathRow(form, "control_image", "Control image", filter=IMAGES)
        self.control_lora = PathRow(form, "control_lora", "Control LoRA", filter="LoRA (*.safetensors)")
        self.reference_image = DropPathRow(form, "reference_image", "Reference image", filter=IMAGES)
        self.reference_model = PathRow(form, "reference_model", "FLUX.1-Redux-dev folder", folder=True)
        self.regions_file = PathRow(form, "regions_file", "Regions file", filter="Regions (*.json)")

        self.sketch_button = QPushButton("Sketch on the sphere")
        self.sketch_button.setToolTip(
            "Draw lines and fills on the panorama with the edit brush, then use them as the control image."
        )
        self.depth_button = QPushButton("From depth")
        self.depth_button.setToolTip("The depth of the current panorama (near = bright), for the Depth LoRA.")
        self.canny_button = QPushButton("From edges")
        self.canny_button.setToolTip("The Canny edges of the current panorama, for the Canny LoRA.")
        sources = QWidget()
        row = QGridLayout(sources)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.sketch_button, 0, 0, 1, 2)
        row.addWidget(self.depth_button, 1, 0)
        row.addWidget(self.canny_button, 1, 1)
        self.sketch = SketchBox()
        self.depth_need = NeedRow()
        control = self._group(
            "Structure control",
            CONTROL_NEEDS,
            [("Image", self.control_image), ("", sources), ("", self.sketch), ("", self.depth_need),
             ("Control LoRA", self.control_lora)],
            ["control_scale", "control_start", "control_end"],
        )  # fmt: skip
        layout.addWidget(control)

        self.reference_need = NeedRow()
        layout.addWidget(
            self._group(
                "Reference image",
                REFERENCE_NEEDS,
                [
                    ("Image", self.reference_image),
                    ("Redux model", self.reference_model),
                    ("", self.reference_need),
                ],
                ["reference_strength"],
            )
        )
        self.regions = RegionList()
        layout.addWidget(
            self._group(
                "Regional prompts",
                REGIONS_NEEDS,
                [("", self.regions), ("File", self.regions_file)],
                ["regions_until"],
            )
        )

    def say(self, text: str | None) -> None:
        """A sentence for the user at the top of the panel (None: nothing)."""
        self.notice.setText(text or "")
        self.notice.setVisible(bool(text))

    def _group(self, title: str, needs: str, rows, numbers: list[str]) -> QGroupBox:
        box = QGroupBox(title)
        grid = QGridLayout(box)
        grid.addWidget(_note(needs), 0, 0, 1, 2)
        row = 1
        for label, widget in rows:
            if label:
                grid.addWidget(QLabel(label), row, 0)
                grid.addWidget(widget, row, 1)
            else:
                grid.addWidget(widget, row, 0, 1, 2)
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
