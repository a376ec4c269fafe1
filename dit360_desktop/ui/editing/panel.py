"""The edit panel: brush, mask commands, the edit method and its parameters, and "Run edit".

The method, strength, feather, tau and source prompt are fields of the generation form (``GenerationForm``),
so an edit request is built from the same model as a generation and re-use restores them. The brush and the
mask commands belong to the edit session: the panel only shows them and reports what the user asks for.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.panorama.request import EDIT_METHODS, PARAMETERS
from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.painting.brush import MAX_RADIUS_DEG, Brush
from dit360_desktop.ui.widgets.form_widgets import SliderSpin, section_title

MIN_BRUSH_DEG = 0.5
BRUSH_SLIDER_MAX = 45.0
METHOD_LABELS = {
    "blend": (
        "Blend (recommended)",
        "Regenerates the masked part in one pass and keeps every other pixel exactly; masks wrap\n"
        "across the 0/360° seam. About the cost of one generation.",
    ),
    "reference": (
        "Reference (published DiT360)",
        "The published DiT360 editing: inversion of the panorama, then token replacement guided by a\n"
        "source prompt. About three generations of work; sensitive to tau.",
    ),
}


class EditPanel(QFrame):
    """Shown in the side panel while the viewer is in edit mode."""

    brush_changed = Signal(object)  # Brush
    undo_requested = Signal()
    redo_requested = Signal()
    invert_requested = Signal()
    clear_requested = Signal()
    import_requested = Signal()
    export_requested = Signal()
    run_requested = Signal()
    run_enabled_changed = Signal(bool)  # whether there is a mask to run
    leave_requested = Signal()

    def __init__(self, form: GenerationForm, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("EditPanel")
        self.form = form
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(section_title("Edit panorama"))
        self.source_label = QLabel()
        self.source_label.setObjectName("EditSource")
        self.source_label.setWordWrap(True)
        layout.addWidget(self.source_label)
        hint = QLabel(
            "Paint where the panorama should change (white = regenerate). Right-drag or Alt-drag looks "
            "around; [ and ] change the brush size."
        )
        hint.setWordWrap(True)
        hint.setObjectName("Hint")
        layout.addWidget(hint)
        layout.addLayout(self._brush_rows())
        layout.addLayout(self._mask_buttons())
        self.coverage_label = QLabel()
        self.coverage_label.setObjectName("EditCoverage")
        layout.addWidget(self.coverage_label)
        layout.addLayout(self._method_rows())
        layout.addLayout(self._run_buttons())
        self.set_history(False, False)
        self.set_coverage(0.0)
        self._bind()

    # Building --------------------------------------------------------------------------------------------

    def _brush_rows(self) -> QGridLayout:
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        self.paint_button = self._tool_button("Paint", "Add to the mask (B)", checkable=True)
        self.erase_button = self._tool_button("Erase", "Remove from the mask (E)", checkable=True)
        self.paint_button.setChecked(True)
        self._modes = QButtonGroup(self)
        self._modes.addButton(self.paint_button)
        self._modes.addButton(self.erase_button)
        row = QHBoxLayout()
        row.addWidget(self.paint_button)
        row.addWidget(self.erase_button)
        row.addStretch(1)
        grid.addWidget(QLabel("Brush"), 0, 0)
        grid.addLayout(row, 0, 1)
        brush = Brush()
        self.size_input = SliderSpin(
            MIN_BRUSH_DEG, MAX_RADIUS_DEG, 0.5, 1, brush.radius_deg, slider_max=BRUSH_SLIDER_MAX,
            tooltip="Brush radius in degrees on the sphere: the same part of the scene in every view.",
        )  # fmt: skip
        self.size_input.setObjectName("brush_size_input")
        self.hardness_input = SliderSpin(
            0.0, 1.0, 0.05, 2, brush.hardness,
            tooltip="How much of the brush paints fully; the rest fades out (0 is all soft edge).",
        )  # fmt: skip
        self.hardness_input.setObjectName("brush_hardness_input")
        grid.addWidget(QLabel("Size °"), 1, 0)
        grid.addWidget(self.size_input, 1, 1)
        grid.addWidget(QLabel("Hardness"), 2, 0)
        grid.addWidget(self.hardness_input, 2, 1)
        return grid

    def _mask_buttons(self) -> QGridLayout:
        # Two rows of three: one row of six would widen the whole side panel past its dock.
        grid = QGridLayout()
        grid.setSpacing(4)
        self.undo_button = self._tool_button("Undo", "Undo the last stroke (Ctrl+Z)")
        self.redo_button = self._tool_button("Redo", "Redo (Ctrl+Shift+Z)")
        self.invert_button = self._tool_button("Invert", "Regenerate everything except what is painted")
        self.clear_button = self._tool_button("Clear", "Remove the whole mask")
        self.import_button = self._tool_button("Import…", "Load a mask PNG (white = regenerate)")
        self.export_button = self._tool_button("Export…", "Save the mask as a PNG (white = regenerate)")
        for i, (button, signal) in enumerate(
            (
                (self.undo_button, self.undo_requested),
                (self.redo_button, self.redo_requested),
                (self.invert_button, self.invert_requested),
                (self.clear_button, self.clear_requested),
                (self.import_button, self.import_requested),
                (self.export_button, self.export_requested),
            )
        ):
            button.clicked.connect(signal)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            grid.addWidget(button, i // 3, i % 3)
        return grid

    def _method_rows(self) -> QGridLayout:
        grid = QGridLayout()
        grid.setHorizontalSpacing(8)
        self.method_combo = QComboBox()
        self.method_combo.setObjectName("edit_method_input")
        self.method_combo.setToolTip(
            "Blend keeps every unpainted pixel and handles the seam; Reference is the published method."
        )
        for method in EDIT_METHODS:
            label, help_text = METHOD_LABELS[method]
            self.method_combo.addItem(label, method)
            self.method_combo.setItemData(
                self.method_combo.count() - 1, help_text, Qt.ItemDataRole.ToolTipRole
            )
        grid.addWidget(QLabel("Method"), 0, 0)
        grid.addWidget(self.method_combo, 0, 1)
        self.numbers: dict[str, SliderSpin] = {}
        self._number_labels: dict[str, QLabel] = {}
        for row, name in enumerate(("strength", "feather", "tau"), start=1):
            spec = PARAMETERS[name]
            widget = SliderSpin.for_spec(spec)
            widget.setObjectName(f"edit_{name}_input")
            label = QLabel(spec.label)
            grid.addWidget(label, row, 0)
            grid.addWidget(widget, row, 1)
            self.numbers[name] = widget
            self._number_labels[name] = label
        self.source_prompt_edit = QLineEdit()
        self.source_prompt_edit.setObjectName("edit_source_prompt_input")
        self.source_prompt_edit.setPlaceholderText("What the panorama shows now (optional)")
        self.source_prompt_edit.setToolTip(
            "Reference method: a prompt for the panorama as it is. The published script uses an empty one."
        )
        self._source_prompt_label = QLabel("Source prompt")
        grid.addWidget(self._source_prompt_label, 4, 0)
        grid.addWidget(self.source_prompt_edit, 4, 1)
        return grid

    def _run_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.run_button = QPushButton("Run edit")
        self.run_button.setObjectName("RunEditButton")
        self.run_button.setToolTip("Regenerate the painted part with the prompt above; queued like Generate.")
        self.run_button.clicked.connect(self.run_requested)
        self.leave_button = QPushButton("Done")
        self.leave_button.setToolTip("Leave edit mode (the mask is kept until another panorama is edited).")
        self.leave_button.clicked.connect(self.leave_requested)
        row.addWidget(self.run_button, 1)
        row.addWidget(self.leave_button)
        return row

    def _tool_button(self, text: str, tooltip: str, *, checkable: bool = False) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tooltip)
        button.setCheckable(checkable)
        button.setObjectName(f"Edit{text.rstrip('…')}Button")
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        return button

    # Binding ---------------------------------------------------------------------------------------------

    def _bind(self) -> None:
        form = self.form
        self.method_combo.currentIndexChanged.connect(
            lambda i: form.set("edit_method", self.method_combo.itemData(i))
        )
        form.subscribe("edit_method", self._show_method)
        for name, widget in self.numbers.items():
            spec = PARAMETERS[name]
            widget.valueChanged.connect(
                lambda value, n=name, s=spec: form.set(n, round(value) if s.is_int else round(value, 3))
            )
            form.subscribe(name, lambda value, w=widget: w.setValue(float(value)))
        self.source_prompt_edit.textChanged.connect(lambda text: form.set("source_prompt", text))
        form.subscribe("source_prompt", self._show_source_prompt)
        self.paint_button.toggled.connect(lambda _: self.brush_changed.emit(self.brush()))
        self.size_input.valueChanged.connect(lambda _: self.brush_changed.emit(self.brush()))
        self.hardness_input.valueChanged.connect(lambda _: self.brush_changed.emit(self.brush()))

    def _show_method(self, method: str) -> None:
        index = self.method_combo.findData(method)
        if index >= 0 and index != self.method_combo.currentIndex():
            self.method_combo.setCurrentIndex(index)
        reference = method == "reference"
        # Tau and the source prompt only mean something to the reference method; feather only to blend.
        for widget in (self.numbers["tau"], self._number_labels["tau"], self.source_prompt_edit):
            widget.setVisible(reference)
        self._source_prompt_label.setVisible(reference)
        for widget in (self.numbers["feather"], self._number_labels["feather"]):
            widget.setVisible(not reference)

    def _show_source_prompt(self, text: str) -> None:
        if self.source_prompt_edit.text() != text:
            self.source_prompt_edit.setText(text)

    # State from the session ------------------------------------------------------------------------------

    def brush(self) -> Brush:
        return Brush(
            radius_deg=self.size_input.value(),
            hardness=self.hardness_input.value(),
            erase=self.erase_button.isChecked(),
        )

    def set_brush_size(self, degrees: float) -> None:
        self.size_input.setValue(min(MAX_RADIUS_DEG, max(MIN_BRUSH_DEG, degrees)))

    def set_erase(self, erase: bool) -> None:
        (self.erase_button if erase else self.paint_button).setChecked(True)

    def set_history(self, can_undo: bool, can_redo: bool) -> None:
        self.undo_button.setEnabled(can_undo)
        self.redo_button.setEnabled(can_redo)

    def set_coverage(self, fraction: float) -> None:
        if fraction <= 0.0:
            self.coverage_label.setText("Nothing painted yet.")
        else:
            self.coverage_label.setText(f"{100.0 * fraction:.1f}% of the sphere marked for regeneration.")
        self.run_button.setEnabled(fraction > 0.0)
        self.run_enabled_changed.emit(fraction > 0.0)

    def set_source(self, text: str) -> None:
        self.source_label.setText(text)
