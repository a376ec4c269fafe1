"""The extra LoRA list of the parameters panel: FLUX LoRAs stacked on DiT360, each with a scale and on/off.

``LoraListModel`` (no Qt) holds the rows and writes the ones that are on to the form's ``extra_loras``;
a row switched off stays in the list until it is removed, so it can be switched on again. A stored request
recalled into the form (re-use, a dropped PNG) replaces the rows that are on. ``LoraListWidget`` only shows
the model and forwards edits to it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.panorama.request import MAX_EXTRA_LORAS, PARAMETERS, normalise_extra_loras
from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.widgets.form_widgets import section_title
from dit360_desktop.ui.widgets.icons import icon

LORA_FILTER = "LoRA files (*.safetensors)"
LORA_SUBFOLDER = "loras"  # <models folder>/loras: where the "From the models folder" menu looks first
MAX_LISTED = 40


@dataclass(frozen=True)
class LoraEntry:
    path: str
    scale: float = 1.0
    enabled: bool = True

    @property
    def name(self) -> str:
        return Path(self.path).name.removesuffix(".safetensors")


class LoraListModel:
    """The rows of the LoRA list, bound to ``form["extra_loras"]``."""

    def __init__(self, form: GenerationForm) -> None:
        self.form = form
        self._entries: list[LoraEntry] = []
        self._listeners: list[Callable[[], None]] = []
        self._writing = False
        form.subscribe("extra_loras", self._from_form)

    @property
    def entries(self) -> list[LoraEntry]:
        return list(self._entries)

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def add(self, path: str | Path, scale: float = 1.0) -> bool:
        """Add a LoRA (on); False if it is already listed or the list is full."""
        text = str(Path(path).expanduser())
        if any(entry.path == text for entry in self._entries) or len(self._entries) >= MAX_EXTRA_LORAS:
            return False
        self._set([*self._entries, LoraEntry(text, scale)])
        return True

    def remove(self, index: int) -> None:
        self._set([entry for i, entry in enumerate(self._entries) if i != index])

    def set_scale(self, index: int, scale: float) -> None:
        self._change(index, scale=round(float(scale), 3))

    def set_enabled(self, index: int, enabled: bool) -> None:
        self._change(index, enabled=bool(enabled))

    def _change(self, index: int, **changes) -> None:
        entries = list(self._entries)
        entries[index] = replace(entries[index], **changes)
        self._set(entries)

    def _set(self, entries: list[LoraEntry]) -> None:
        self._entries = entries
        self._writing = True
        try:
            self.form.set("extra_loras", tuple((e.path, e.scale) for e in entries if e.enabled))
        finally:
            self._writing = False
        self._notify()

    def _from_form(self, value) -> None:
        if self._writing:
            return
        pairs = normalise_extra_loras(value)
        if not isinstance(pairs, tuple) or not all(isinstance(p, tuple) and len(p) == 2 for p in pairs):
            return  # not a list of pairs: validate() names it when a run starts
        listed = {str(path) for path, _ in pairs}
        switched_off = [e for e in self._entries if not e.enabled and e.path not in listed]
        self._entries = [LoraEntry(str(path), scale) for path, scale in pairs] + switched_off
        self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()


def models_folder() -> Path:
    """The model manager's folder from the settings file (the default one when none is set)."""
    from dit360_desktop.paths import default_models_dir
    from dit360_desktop.settings import load_settings

    chosen = load_settings().settings.models_dir
    return Path(chosen).expanduser() if chosen else default_models_dir()


def lora_files_in(folder: Path) -> list[Path]:
    """LoRA-looking files in ``folder``/loras and ``folder`` (two levels), not a diffusers model's weights."""
    found: list[Path] = []
    for root in (folder / LORA_SUBFOLDER, folder):
        if not root.is_dir():
            continue
        for path in sorted(root.glob("*.safetensors")) + sorted(root.glob("*/*.safetensors")):
            inside_model = any((parent / "model_index.json").exists() for parent in path.parents[:3])
            if not inside_model and path not in found:
                found.append(path)
    return found[:MAX_LISTED]


class LoraRow(QWidget):
    def __init__(self, list_widget: LoraListWidget, index: int, entry: LoraEntry) -> None:
        super().__init__()
        self.setObjectName("LoraRow")
        self.path = entry.path
        model = list_widget.model
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.toggle = QCheckBox(entry.name)
        self.toggle.setObjectName("LoraToggle")
        self.toggle.setToolTip(f"{entry.path}\nOn: applied at the scale on the right. Off: kept in the list.")
        self.toggle.setChecked(entry.enabled)
        self.toggle.toggled.connect(lambda on: model.set_enabled(index, on))
        spec = PARAMETERS["lora_scale"]
        self.scale = QDoubleSpinBox()
        self.scale.setObjectName("LoraScale")
        self.scale.setRange(spec.low, spec.high)
        # Three decimals: step-distilled LoRAs are often used at 0.125 (Hyper-SD's FLUX LoRAs).
        self.scale.setDecimals(3)
        self.scale.setSingleStep(spec.step)
        self.scale.setKeyboardTracking(False)
        self.scale.setFixedWidth(64)
        self.scale.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.scale.setToolTip("Strength of this LoRA: 1 is as trained, 0 switches its effect off.")
        self.scale.setValue(entry.scale)
        self.scale.valueChanged.connect(lambda value: model.set_scale(index, value))
        self.remove = QToolButton()
        self.remove.setObjectName("LoraRemove")
        self.remove.setIcon(icon("remove"))
        self.remove.setToolTip("Remove this LoRA from the list.")
        self.remove.clicked.connect(lambda: model.remove(index))
        layout.addWidget(self.toggle, 1)
        layout.addWidget(self.scale)
        layout.addWidget(self.remove)

    def show_entry(self, entry: LoraEntry) -> None:
        for widget, apply in ((self.toggle, self.toggle.setChecked), (self.scale, self.scale.setValue)):
            widget.blockSignals(True)
            apply(entry.enabled if widget is self.toggle else entry.scale)
            widget.blockSignals(False)


class LoraListWidget(QWidget):
    """Extra LoRAs: a row per LoRA (on/off, name, scale, remove) and an Add button with a menu."""

    def __init__(
        self,
        form: GenerationForm,
        parent: QWidget | None = None,
        *,
        folder: Callable[[], Path] = models_folder,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("LoraList")
        self.model = LoraListModel(form)
        self._folder = folder
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(4)
        header = QHBoxLayout()
        header.addWidget(section_title("Extra LoRAs"))
        header.addStretch(1)
        self.add_button = QToolButton()
        self.add_button.setObjectName("LoraAdd")
        self.add_button.setText("Add")
        self.add_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.add_button.setToolTip(
            "Stack another FLUX LoRA on DiT360: a style, or a step-distilled turbo LoRA\n"
            "(with 8 steps). Only .safetensors files; LoRAs for other models are refused."
        )
        self.menu = QMenu(self.add_button)
        self.menu.aboutToShow.connect(self._fill_menu)
        self.add_button.setMenu(self.menu)
        header.addWidget(self.add_button)
        layout.addLayout(header)
        self.empty = QLabel("None: DiT360 alone.")
        self.empty.setObjectName("LoraEmpty")
        layout.addWidget(self.empty)
        self.rows_box = QVBoxLayout()
        self.rows_box.setSpacing(2)
        layout.addLayout(self.rows_box)
        self.rows: list[LoraRow] = []
        self.model.on_change(self._show)
        self._show()

    def _show(self) -> None:
        entries = self.model.entries
        if [row.path for row in self.rows] == [entry.path for entry in entries]:
            # Same rows: update in place, so the spin box being edited keeps its focus.
            for row, entry in zip(self.rows, entries, strict=True):
                row.show_entry(entry)
        else:
            for row in self.rows:
                # Out of the layout now: deleteLater alone leaves it drawn until the event loop runs.
                self.rows_box.removeWidget(row)
                row.setParent(None)
                row.deleteLater()
            self.rows = [LoraRow(self, i, entry) for i, entry in enumerate(entries)]
            for row in self.rows:
                self.rows_box.addWidget(row)
        self.empty.setVisible(not entries)

    def _fill_menu(self) -> None:
        self.menu.clear()
        # No-argument callables: QAction.triggered carries a "checked" flag that must not become a path.
        self.menu.addAction(icon("file"), "Add a LoRA file…", lambda: self.choose_file())
        folder = self._folder()
        listed = {entry.path for entry in self.model.entries}
        files = [path for path in lora_files_in(folder) if str(path) not in listed]
        if files:
            self.menu.addSection("In the models folder")
            for path in files:
                self.menu.addAction(path.name, functools.partial(self.model.add, path))
        self.menu.addAction(icon("folder"), "Browse the models folder…", lambda: self.choose_file(folder))

    def choose_file(self, start: Path | None = None) -> None:
        if start is not None and (start / LORA_SUBFOLDER).is_dir():
            start = start / LORA_SUBFOLDER
        path, _ = QFileDialog.getOpenFileName(
            self, "Add a FLUX LoRA", str(start or Path.home()), f"{LORA_FILTER};;All files (*)"
        )
        if path:
            self.model.add(path)
