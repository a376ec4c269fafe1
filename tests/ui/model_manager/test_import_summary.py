"""Issue 21, item 8: a folder holding the tiny (not FLUX.1-dev) base model and a valid DiT360 LoRA. The
manager refused the base model and dropped the LoRA with it; now it imports the LoRA, refuses the base
model, and one message says both."""

from __future__ import annotations

import shutil
from pathlib import Path

from dit360_desktop.models.registry import installed_model_paths, read_registry
from dit360_desktop.testing.tiny_flux import build_tiny_lora
from dit360_desktop.ui.model_manager.dialog import ModelManagerDialog


def test_the_lora_is_imported_and_the_base_model_refused_in_one_message(
    qtbot, tmp_path: Path, tiny_flux_dir: Path
) -> None:
    folder = tmp_path / "usb" / "ComfyUI" / "models"
    shutil.copytree(tiny_flux_dir, folder / "diffusers" / "FLUX.1-dev")
    lora = build_tiny_lora(
        folder / "loras" / "DiT360_panorama_lora.safetensors",
        tiny_flux_dir / "transformer",
        peft_folder=False,
    )
    models = tmp_path / "models"
    dialog = ModelManagerDialog(None, models)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.table.rowCount() > 0, timeout=10_000)
    try:
        before = len(dialog.messages)
        with qtbot.waitSignal(dialog.installed_changed, timeout=30_000):
            dialog.import_from(folder, "in-place")
        qtbot.waitUntil(lambda: len(dialog.messages) > before, timeout=10_000)
        (text, is_error), *_ = dialog.messages[before:]
        assert len(dialog.messages) == before + 1  # one summary, not one message per model
        assert is_error  # something was refused: shown as a problem
        assert text.startswith("Imported DiT360")
        assert "Not imported: FLUX.1-dev" in text and "The transformer is not FLUX.1-dev's" in text
        assert installed_model_paths(models).lora == lora
        assert "flux1-dev" not in read_registry(models)
    finally:
        dialog.shutdown()
