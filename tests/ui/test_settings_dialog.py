"""Settings (Ctrl+,): a round trip through the dialog and the settings file."""

from __future__ import annotations

from pathlib import Path

from dit360_desktop.settings import Settings, load_settings, save_settings
from dit360_desktop.ui.settings_dialog import (
    COMPILE_HELP,
    MERGE_HELP,
    OPTIONAL_FEATURES,
    SettingsDialog,
    installed_features,
)


def test_round_trip_through_the_file(qtbot, tmp_path: Path) -> None:
    settings = Settings(library_dir=str(tmp_path / "lib"))
    dialog = SettingsDialog(settings, tier="auto", library_count=0)
    qtbot.addWidget(dialog)
    dialog.models_edit.setText(str(tmp_path / "models"))
    dialog.compile_check.setChecked(True)
    dialog.preview_check.setChecked(False)
    dialog.theme_combo.setCurrentIndex(dialog.theme_combo.findData("high-contrast"))
    dialog.tier_combo.setCurrentIndex(dialog.tier_combo.findData("24gb"))
    dialog.accept()
    changes = dialog.apply_to(settings)
    assert changes.engine and changes.tier == "24gb" and changes.theme == "high-contrast"
    assert changes.live_preview is False and changes.library_dir is None
    save_settings(settings, tmp_path / "s.json")
    again = load_settings(tmp_path / "s.json").settings
    assert again.models_dir == str(tmp_path / "models")
    assert (again.compile_transformer, again.fuse_lora, again.live_preview, again.theme) == (
        True, False, False, "high-contrast",
    )  # fmt: skip

    reopened = SettingsDialog(again, tier="24gb")
    qtbot.addWidget(reopened)
    assert reopened.compile_check.isChecked() and not reopened.preview_check.isChecked()
    assert reopened.tier_combo.currentData() == "24gb"
    assert reopened.changes().engine is False


def test_new_library_folder_offers_to_move_the_files(qtbot, tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    settings = Settings(library_dir=str(old))
    dialog = SettingsDialog(settings, library_dir=old, library_count=3)
    qtbot.addWidget(dialog)
    asked = []
    dialog.ask_move = lambda a, b, count: asked.append((a, b, count)) or True
    dialog.library_edit.setText(str(new))
    dialog.accept()
    assert asked == [(old, new, 3)]
    changes = dialog.apply_to(settings)
    assert changes.library_dir == str(new) and changes.move_library
    assert settings.library_dir == str(new) and settings.library_move_from == str(old)

    # Cancel in the question keeps the dialog open and changes nothing.
    settings = Settings(library_dir=str(old))
    dialog = SettingsDialog(settings, library_dir=old, library_count=3)
    qtbot.addWidget(dialog)
    dialog.ask_move = lambda *a: None
    dialog.library_edit.setText(str(new))
    dialog.accept()
    assert dialog.result() != SettingsDialog.DialogCode.Accepted


def test_plain_language_and_installed_extras(qtbot, monkeypatch) -> None:
    for text in (COMPILE_HELP, MERGE_HELP):
        assert "torch" not in text and "LoRA into" not in text and "compile" not in text
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name == "gguf" else (
        None if name in ("ray", "spandrel", "OpenEXR") else real(name)
    ))  # fmt: skip
    assert installed_features() == {"gguf": True, "ray": False, "spandrel": False, "OpenEXR": False}
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    assert len(dialog.feature_labels) == len(OPTIONAL_FEATURES)
    assert dialog.feature_labels["gguf"].isEnabled()
    assert "pip install spandrel" in dialog.feature_labels["spandrel"].text()
    assert not dialog.feature_labels["spandrel"].isEnabled()


def test_each_option_help_is_shown_whole_right_under_its_option(qtbot) -> None:
    """The explanations were clipped (a small screen) or pushed away from their checkbox (a large one) when
    Qt word-wrapped them for a guessed width."""
    from PySide6.QtWidgets import QLabel

    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    hints = {label.text().replace("\n", " "): label for label in dialog.findChildren(QLabel, "Hint")}
    assert set(hints) >= {COMPILE_HELP, MERGE_HELP}
    for option, text in ((dialog.compile_check, COMPILE_HELP), (dialog.merge_check, MERGE_HELP)):
        label = hints[text]
        assert label.height() >= label.sizeHint().height()  # every line shown
        option_bottom = option.mapTo(dialog, option.rect().bottomLeft()).y()
        label_top = label.mapTo(dialog, label.rect().topLeft()).y()
        assert 0 <= label_top - option_bottom <= 6  # right under it, no gap
