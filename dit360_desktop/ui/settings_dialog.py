"""Settings (Ctrl+,): folders, memory, speed, preview, theme, and which optional features are installed.

The dialog edits a copy: nothing changes until OK, and ``changes()`` says what did, so the window only
redoes the work a change needs (a new engine for speed options, a library move for a new folder).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import textwrap
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop import paths
from dit360_desktop.panorama.request import TIER_CHOICES
from dit360_desktop.settings import Settings
from dit360_desktop.ui.widgets.dialogs import choose_folder
from dit360_desktop.ui.widgets.icons import icon

THEMES = (("dark", "Dark"), ("high-contrast", "Dark, high contrast"))
# (module to look for, what it adds, the pip extra or package that brings it).
OPTIONAL_FEATURES: tuple[tuple[str, str, str], ...] = (
    ("gguf", "Quantised GGUF transformers for small GPUs", "gguf"),
    ("ray", "Rendering batches on a cluster of machines", "ray"),
    ("spandrel", "Upscaling finished panoramas", "spandrel"),
    ("OpenEXR", "Exporting HDR environment maps (OpenEXR)", "openexr"),
)
HELP_LINE_CHARS = 76
COMPILE_HELP = (
    "Steps run about a quarter faster on NVIDIA graphics cards. The first picture after the model loads "
    "takes about 15 seconds longer while the card's code is prepared. Not used on Apple computers."
)
MERGE_HELP = (
    "About 6 % faster steps. The panorama style is built into the model once it loads, so changing the "
    "style strength (LoRA scale) loads the model again."
)
PREVIEW_HELP = "Show the panorama forming in the viewer at every step, not only when it is finished."


def installed_features() -> dict[str, bool]:
    """Which optional modules this Python can import (looked up, not imported: no start-up cost)."""
    return {module: importlib.util.find_spec(module) is not None for module, _, _ in OPTIONAL_FEATURES}


@dataclass(frozen=True)
class SettingsChanges:
    library_dir: str | None = None  # the new folder, when it changed
    move_library: bool = False
    engine: bool = False  # speed options: the next job builds a new engine
    tier: str | None = None
    theme: str | None = None
    live_preview: bool | None = None


class SettingsDialog(QDialog):
    def __init__(
        self,
        settings: Settings,
        parent: QWidget | None = None,
        *,
        library_dir: Path | None = None,
        tier: str = "auto",
        library_count: int = 0,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("SettingsDialog")
        self.setWindowTitle("Settings")
        self.setWindowIcon(icon("settings"))
        self.setMinimumWidth(620)
        self._original = settings
        self.edited = dataclasses.replace(settings, last_folders=dict(settings.last_folders))
        self._library_dir = Path(library_dir or settings.library_dir or paths.default_library_dir())
        self._tier = tier
        self._library_count = library_count
        # Replaceable in tests: asks whether to move the files to the new library folder.
        self.ask_move = self._ask_move
        layout = QVBoxLayout(self)
        layout.addWidget(self._folders_box())
        layout.addWidget(self._generation_box())
        layout.addWidget(self._appearance_box())
        layout.addWidget(self._features_box())
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.move_files = False

    # ---- sections --------------------------------------------------------------------------------------

    def _folder_row(self, edit: QLineEdit, kind: str, title: str) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        browse = QPushButton("Browse…")
        browse.setIcon(icon("folder"))
        browse.clicked.connect(lambda: self._browse(edit, kind, title))
        row.addWidget(browse)
        return row

    def _folders_box(self) -> QGroupBox:
        box = QGroupBox("Folders")
        form = QFormLayout(box)
        self.library_edit = QLineEdit(str(self._library_dir))
        self.library_edit.setObjectName("LibraryFolder")
        self.library_edit.setToolTip(
            "Where every finished panorama is kept, with its thumbnail and parameters."
        )
        form.addRow("Library:", self._folder_row(self.library_edit, "library", "Choose the library folder"))
        models = self._original.models_dir or str(paths.default_models_dir())
        self.models_edit = QLineEdit(models)
        self.models_edit.setObjectName("ModelsFolder")
        self.models_edit.setToolTip("Where the model manager keeps downloaded and copied models.")
        form.addRow("Models:", self._folder_row(self.models_edit, "models", "Choose where to keep models"))
        return box

    def _generation_box(self) -> QGroupBox:
        box = QGroupBox("Generation")
        form = QFormLayout(box)
        self.tier_combo = QComboBox()
        self.tier_combo.setObjectName("TierCombo")
        for choice in TIER_CHOICES:
            self.tier_combo.addItem(choice.label, choice.value)
            self.tier_combo.setItemData(self.tier_combo.count() - 1, choice.help, Qt.ItemDataRole.ToolTipRole)
        self.tier_combo.setCurrentIndex(max(0, self.tier_combo.findData(self._tier)))
        self.tier_combo.setToolTip("How much of the graphics card's memory the model may use.")
        form.addRow("Memory:", self.tier_combo)
        self.compile_check = QCheckBox("Prepare the model for faster steps on NVIDIA cards")
        self.compile_check.setObjectName("CompileCheck")
        self.compile_check.setChecked(self._original.compile_transformer)
        _add_with_help(form, "Speed:", self.compile_check, COMPILE_HELP)
        self.merge_check = QCheckBox("Build the panorama style into the model")
        self.merge_check.setObjectName("MergeCheck")
        self.merge_check.setChecked(self._original.fuse_lora)
        _add_with_help(form, "", self.merge_check, MERGE_HELP)
        self.preview_check = QCheckBox("Live preview while generating")
        self.preview_check.setObjectName("PreviewCheck")
        self.preview_check.setChecked(self._original.live_preview)
        self.preview_check.setToolTip(PREVIEW_HELP)
        form.addRow("Preview:", self.preview_check)
        return box

    def _appearance_box(self) -> QGroupBox:
        box = QGroupBox("Appearance")
        form = QFormLayout(box)
        self.theme_combo = QComboBox()
        self.theme_combo.setObjectName("ThemeCombo")
        for key, label in THEMES:
            self.theme_combo.addItem(label, key)
        self.theme_combo.setCurrentIndex(max(0, self.theme_combo.findData(self._original.theme)))
        form.addRow("Theme:", self.theme_combo)
        return box

    def _features_box(self) -> QGroupBox:
        box = QGroupBox("Optional features")
        form = QFormLayout(box)
        self.feature_labels: dict[str, QLabel] = {}
        for module, what, package in OPTIONAL_FEATURES:
            present = installed_features()[module]
            mark = QLabel()
            mark.setPixmap(icon("check" if present else "remove").pixmap(16, 16))
            text = QLabel(what + ("" if present else f"  (not installed: pip install {package})"))
            text.setObjectName(f"Feature_{module}")
            text.setEnabled(present)
            row = QHBoxLayout()
            row.addWidget(mark)
            row.addWidget(text, 1)
            form.addRow(row)
            self.feature_labels[module] = text
        return box

    # ---- behaviour -------------------------------------------------------------------------------------

    def _browse(self, edit: QLineEdit, kind: str, title: str) -> None:
        folder = choose_folder(self, title, self.edited.last_folders, f"settings-{kind}", start=edit.text())
        if folder is not None:
            edit.setText(str(folder))

    def _ask_move(self, old: Path, new: Path, count: int) -> bool | None:
        from dit360_desktop.ui.widgets.dialogs import message_box

        what = "1 panorama" if count == 1 else f"{count:,} panoramas"
        box = message_box(
            self,
            "question",
            "Move the library?",
            f"Move the {what} in {old} to {new}?",
            ("Move the files", "Start an empty library", "Cancel"),
            informative="Moving happens when DiT360 Desktop next starts, before the library opens.",
        )
        box.exec()
        index = box.buttons().index(box.clickedButton()) if box.clickedButton() in box.buttons() else 2
        return (True, False, None)[index]

    def accept(self) -> None:
        new_library = Path(self.library_edit.text().strip()).expanduser()
        if new_library != self._library_dir and self._library_count:
            answer = self.ask_move(self._library_dir, new_library, self._library_count)
            if answer is None:
                return
            self.move_files = answer
        super().accept()

    def changes(self) -> SettingsChanges:
        """What differs from the settings the dialog started with (after OK)."""
        s = self._original
        library = self.library_edit.text().strip()
        theme = self.theme_combo.currentData()
        tier = self.tier_combo.currentData()
        return SettingsChanges(
            library_dir=library if Path(library).expanduser() != self._library_dir else None,
            move_library=self.move_files,
            engine=(self.compile_check.isChecked(), self.merge_check.isChecked())
            != (s.compile_transformer, s.fuse_lora),
            tier=tier if tier != self._tier else None,
            theme=theme if theme != s.theme else None,
            live_preview=self.preview_check.isChecked()
            if self.preview_check.isChecked() != s.live_preview
            else None,
        )

    def apply_to(self, settings: Settings) -> SettingsChanges:
        """Write the edited values into ``settings``; returns what changed."""
        changes = self.changes()
        models = self.models_edit.text().strip()
        settings.models_dir = None if models == str(paths.default_models_dir()) else models
        settings.compile_transformer = self.compile_check.isChecked()
        settings.fuse_lora = self.merge_check.isChecked()
        settings.live_preview = self.preview_check.isChecked()
        settings.theme = str(self.theme_combo.currentData())
        settings.last_folders = dict(self.edited.last_folders)
        if changes.library_dir is not None:
            if changes.move_library:
                settings.library_move_from = str(self._library_dir)
            settings.library_dir = changes.library_dir
        return changes


def _add_with_help(form: QFormLayout, title: str, option: QWidget, text: str) -> None:
    """An option with its explanation right under it, indented to the option's text. The explanation is
    broken into lines here rather than word-wrapped by Qt: a wrapped label in a form gets its height for a
    guessed width, which clipped lines or left gaps depending on the screen."""
    column = QVBoxLayout()
    column.setContentsMargins(0, 0, 0, 4)
    column.setSpacing(2)
    column.addWidget(option)
    label = QLabel(textwrap.fill(text, HELP_LINE_CHARS))
    label.setObjectName("Hint")
    label.setContentsMargins(24, 0, 0, 0)
    column.addWidget(label)
    form.addRow(title, column)
