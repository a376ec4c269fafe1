"""The model manager's "Make an offline pack…" and its import of a pack (no copy-or-in-place question)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from dit360_desktop.models.importer import COPY, import_model
from dit360_desktop.models.pack_manifest import MANIFEST_NAME
from dit360_desktop.models.registry import read_registry
from dit360_desktop.ui.model_manager.dialog import ModelManagerDialog

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "model-pack.png"


def _open(qtbot, models: Path) -> ModelManagerDialog:
    widget = ModelManagerDialog(None, models)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(lambda: widget.table.rowCount() > 0, timeout=10_000)
    return widget


def test_make_a_pack_in_the_dialog_and_import_it_on_another_machine(
    qtbot, tmp_path: Path, tiny_flux_dir: Path, tiny_lora_dir: Path
) -> None:
    machine_a = tmp_path / "machine-a"
    import_model(tiny_flux_dir, mode=COPY, models_dir=machine_a)
    import_model(tiny_lora_dir, mode=COPY, models_dir=machine_a)
    drive = tmp_path / "usb"
    drive.mkdir()

    maker = _open(qtbot, machine_a)
    assert maker.pack_button.text() == "Make an offline pack…" and maker.pack_button.isEnabled()
    maker.make_pack_in(drive)
    qtbot.waitUntil(lambda: any("Wrote an offline pack" in t for t, _ in maker.messages), timeout=30_000)
    qtbot.waitUntil(lambda: maker.pack_button.isEnabled(), timeout=10_000)
    (pack,) = drive.iterdir()
    assert pack.name.startswith("DiT360 model pack ")
    manifest = json.loads((pack / MANIFEST_NAME).read_text())
    assert set(manifest["components"]) == {"flux1-dev", "dit360-lora"}
    if os.environ.get("DIT360_SCREENSHOTS"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        maker.grab().save(str(SCREENSHOT))
    maker.shutdown()

    machine_b = tmp_path / "machine-b"
    importer = _open(qtbot, machine_b)
    # With no mode given, a folder that is not a pack would ask copy or in place (a modal box that would
    # block here); a pack is copied without asking.
    importer.import_from(pack)
    qtbot.waitUntil(lambda: any("from the pack" in t for t, _ in importer.messages), timeout=30_000)
    assert not any(error for _t, error in importer.messages)
    assert set(read_registry(machine_b)) == {"flux1-dev", "dit360-lora"}
    importer.shutdown()


def test_a_damaged_pack_is_reported_in_the_dialog(qtbot, tmp_path: Path, tiny_lora_dir: Path) -> None:
    from dit360_desktop.models.pack import make_pack

    machine_a = tmp_path / "a"
    import_model(tiny_lora_dir, mode=COPY, models_dir=machine_a)
    pack = make_pack(tmp_path / "pack", models_dir=machine_a).path
    (pack / "dit360-lora" / "adapter_config.json").unlink()
    dialog = _open(qtbot, tmp_path / "b")
    dialog.import_from(pack)
    qtbot.waitUntil(lambda: any(error for _t, error in dialog.messages), timeout=30_000)
    text = next(t for t, error in dialog.messages if error)
    assert text.startswith("Nothing was imported") and "missing: dit360-lora/adapter_config.json" in text
    dialog.shutdown()
