"""The model manager as the first run opens it: on the missing row, with the steps, and reporting
the moment what is installed changes."""

from __future__ import annotations

import shutil
from pathlib import Path

from dit360_desktop.models.folder_check import ANY_FLUX_SHAPE
from dit360_desktop.models.registry import read_registry
from dit360_desktop.ui.model_manager.dialog import ModelManagerDialog, licence_steps


def _dialog(qtbot, models: Path, **kwargs) -> ModelManagerDialog:
    dialog = ModelManagerDialog(None, models, **kwargs)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.table.rowCount() > 0, timeout=10_000)
    return dialog


def test_opens_on_the_missing_component_with_the_steps(qtbot, tmp_path: Path) -> None:
    dialog = _dialog(qtbot, tmp_path / "models", focus_component="dit360-lora")
    try:
        assert dialog.selected_component() == "dit360-lora"
        assert dialog.guide_label.isVisible() and "Import" in dialog.guide_label.text()
        steps = dialog.licence_label.text()
        assert "1. Log in" in steps and "3. Press Download" in steps
        assert "hf auth" not in steps and "<code>" not in steps
    finally:
        dialog.shutdown()
    plain = _dialog(qtbot, tmp_path / "models")
    try:
        assert plain.selected_component() is None and not plain.guide_label.isVisible()
    finally:
        plain.shutdown()
    assert "token settings" in licence_steps("X", "L", "https://example.invalid")


def test_import_reports_the_change_and_refuses_a_test_model(
    qtbot, tmp_path: Path, tiny_flux_dir: Path
) -> None:
    models = tmp_path / "models"
    dialog = _dialog(qtbot, models)
    try:
        source = tmp_path / "usb" / "FLUX.1-dev"
        shutil.copytree(tiny_flux_dir, source)
        with qtbot.waitSignal(dialog.installed_changed, timeout=20_000):
            dialog.import_from(source, "in-place")
        text, is_error = dialog.messages[-1]
        assert is_error and text.startswith("Nothing was imported: The transformer is not FLUX.1-dev's")
        assert "flux1-dev" not in read_registry(models)

        # With the shape-only expectation (what the tiny model is), the same folder imports.
        dialog.worker.base_expectations = ANY_FLUX_SHAPE
        with qtbot.waitSignal(dialog.installed_changed, timeout=20_000):
            dialog.import_from(source, "in-place")
        assert read_registry(models)["flux1-dev"].path == source
    finally:
        dialog.shutdown()
