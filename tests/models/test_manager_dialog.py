"""The model manager dialog, driven through its buttons against the hub emulator (pytest-qt, offscreen)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hub_emulator import BASE_REPO, TOKEN, HubEmulator

from dit360_desktop.models.catalog import load_catalog
from dit360_desktop.models.downloads import partial_path
from dit360_desktop.models.registry import installed_model_paths
from dit360_desktop.models.transfer import TransferSettings

pytest.importorskip("PySide6")
from dit360_desktop.ui.model_manager.dialog import (
    COL_ETA,
    COL_NAME,
    COL_PROGRESS,
    COL_SPEED,
    COL_STATE,
    COL_WHERE,
    ModelManagerDialog,
)

SCREENSHOT = Path(os.environ.get("DIT360_SCREENSHOT_DIR", "/tmp")) / "model_manager_dialog.png"
VAE = "vae/diffusion_pytorch_model.safetensors"
# One row per catalog component (the catalog grows: the upscaler was added after this test).
COMPONENTS = len(load_catalog().components)


def _row(dialog: ModelManagerDialog, component_id: str) -> int:
    for row in range(dialog.table.rowCount()):
        if dialog.table.item(row, COL_NAME).data(0x0100) == component_id:
            return row
    raise AssertionError(component_id)


def _cell(dialog: ModelManagerDialog, component_id: str, column: int) -> str:
    item = dialog.table.item(_row(dialog, component_id), column)
    return item.text() if item else ""


def _hub_size(hub: HubEmulator, path: str) -> int:
    return hub.repos[BASE_REPO].files[path].size


@pytest.fixture
def dialog(qtbot, tmp_path: Path, hub: HubEmulator, fast_settings: TransferSettings):
    widget = ModelManagerDialog(None, tmp_path / "models", transfer_settings=fast_settings)
    qtbot.addWidget(widget)
    widget.endpoint_edit.setText(hub.url)
    widget.show()
    qtbot.waitUntil(lambda: widget.table.rowCount() == COMPONENTS, timeout=10_000)
    yield widget
    widget.shutdown()


def test_rows_states_and_licence_note(dialog: ModelManagerDialog) -> None:
    assert _cell(dialog, "flux1-dev", COL_STATE) == "missing"
    assert _cell(dialog, "t5xxl-fp8", COL_STATE) == "planned"
    assert "https://huggingface.co/black-forest-labs/FLUX.1-dev" in dialog.licence_label.text()
    assert "settings/tokens" in dialog.licence_label.text()
    # FLUX.1-dev, the LoRA, the upscaler, the three relative Depth Anything V2 models (1.8 GB together),
    # the two metric Small ones (0.2 GB) and FLUX.1-Redux-dev with its SigLIP encoder (1.6 GB).
    assert "To download: 37.8 GB" in dialog.disk_label.text() and "Free:" in dialog.disk_label.text()
    assert "models" in dialog.location_label.text()


def test_gated_without_token_shows_what_to_do(qtbot, dialog: ModelManagerDialog, hub: HubEmulator) -> None:
    dialog.select_component("flux1-dev")
    dialog.download_button.click()
    qtbot.waitUntil(lambda: any(err for _t, err in dialog.messages), timeout=10_000)
    text, _ = next(m for m in dialog.messages if m[1])
    assert "gated" in text and "accept the licence" in text.lower()
    assert hub.bytes_sent == {}


def test_download_with_progress_speed_eta_then_ready(
    qtbot, dialog: ModelManagerDialog, hub: HubEmulator, tmp_path: Path
) -> None:
    hub.throttle_bps = 150_000
    dialog.token_edit.setText(TOKEN)
    dialog.select_component("flux1-dev")
    dialog.download_button.click()
    qtbot.waitUntil(lambda: _cell(dialog, "flux1-dev", COL_STATE).startswith("downloading "), timeout=10_000)
    qtbot.waitUntil(lambda: _cell(dialog, "flux1-dev", COL_SPEED).endswith("/s"), timeout=10_000)
    assert _cell(dialog, "flux1-dev", COL_ETA)
    bar = dialog.table.cellWidget(_row(dialog, "flux1-dev"), COL_PROGRESS)
    qtbot.waitUntil(lambda: bar.value() >= 20, timeout=10_000)
    assert not dialog.download_button.isEnabled() and dialog.pause_button.isEnabled()
    dialog.grab().save(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
    hub.throttle_bps = None
    qtbot.waitUntil(lambda: _cell(dialog, "flux1-dev", COL_STATE) == "ready", timeout=30_000)
    qtbot.waitUntil(lambda: dialog.download_button.isEnabled(), timeout=10_000)
    assert bar.value() == 100
    assert _cell(dialog, "flux1-dev", COL_WHERE) == str(tmp_path / "models" / "flux1-dev")
    assert installed_model_paths(tmp_path / "models").base == tmp_path / "models" / "flux1-dev"
    assert TOKEN not in "".join(t for t, _ in dialog.messages)


def test_pause_and_resume_buttons(
    qtbot, dialog: ModelManagerDialog, hub: HubEmulator, tmp_path: Path
) -> None:
    hub.throttle_bps = 100_000
    dialog.token_edit.setText(TOKEN)
    dialog.select_component("flux1-dev")
    dialog.download_button.click()
    qtbot.waitUntil(lambda: _cell(dialog, "flux1-dev", COL_STATE).startswith("downloading "), timeout=10_000)
    # "downloading" shows as soon as the first file starts, which can be before any chunk of the big
    # file is on disk; wait for one so there is something for the pause to keep.
    part = partial_path(tmp_path / "models", "flux1-dev", "transformer/diffusion_pytorch_model.safetensors")
    qtbot.waitUntil(lambda: part.exists() and part.stat().st_size > 0, timeout=10_000)
    dialog.pause_button.click()
    qtbot.waitUntil(lambda: dialog.download_button.isEnabled(), timeout=10_000)
    assert _cell(dialog, "flux1-dev", COL_STATE) == "paused"
    kept = part.stat().st_size
    assert 0 < kept < _hub_size(hub, "transformer/diffusion_pytorch_model.safetensors")
    assert dialog.resume_button.isEnabled()
    hub.throttle_bps = None
    dialog.resume_button.click()
    qtbot.waitUntil(lambda: _cell(dialog, "flux1-dev", COL_STATE) == "ready", timeout=30_000)


def test_cancel_button_removes_partial_files(
    qtbot, dialog: ModelManagerDialog, hub: HubEmulator, tmp_path: Path
) -> None:
    hub.throttle_bps = 100_000
    dialog.token_edit.setText(TOKEN)
    dialog.select_component("flux1-dev")
    dialog.download_button.click()
    qtbot.waitUntil(lambda: _cell(dialog, "flux1-dev", COL_STATE).startswith("downloading "), timeout=10_000)
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: dialog.download_button.isEnabled(), timeout=10_000)
    assert not list((tmp_path / "models" / ".downloads").rglob("*.part"))
    assert _cell(dialog, "flux1-dev", COL_STATE) in ("partial", "missing")


def test_close_mid_download_keeps_part_for_next_time(
    qtbot, tmp_path: Path, hub: HubEmulator, fast_settings: TransferSettings
) -> None:
    hub.throttle_bps = 100_000
    first = ModelManagerDialog(None, tmp_path / "models", transfer_settings=fast_settings)
    qtbot.addWidget(first)
    first.endpoint_edit.setText(hub.url)
    qtbot.waitUntil(lambda: first.table.rowCount() == COMPONENTS, timeout=10_000)
    first.select_component("dit360-lora")
    first.download_button.click()
    part = partial_path(tmp_path / "models", "dit360-lora", "adapter_model.safetensors")
    qtbot.waitUntil(lambda: part.exists() and part.stat().st_size > 0, timeout=10_000)
    first.close()
    assert part.exists()
    hub.throttle_bps = None
    second = ModelManagerDialog(None, tmp_path / "models", transfer_settings=fast_settings)
    qtbot.addWidget(second)
    second.endpoint_edit.setText(hub.url)
    qtbot.waitUntil(lambda: second.table.rowCount() == COMPONENTS, timeout=10_000)
    assert _cell(second, "dit360-lora", COL_STATE) == "paused"
    second.select_component("dit360-lora")
    assert second.resume_button.isEnabled()
    second.resume_button.click()
    qtbot.waitUntil(lambda: _cell(second, "dit360-lora", COL_STATE) == "ready", timeout=20_000)
    second.shutdown()


def test_import_then_verify_and_repair(
    qtbot, dialog: ModelManagerDialog, tmp_path: Path, tiny_lora_dir: Path, hub: HubEmulator
) -> None:
    import shutil

    source = tmp_path / "usb" / "DiT360"
    shutil.copytree(tiny_lora_dir, source)
    dialog.import_from(source, "copy")
    qtbot.waitUntil(lambda: _cell(dialog, "dit360-lora", COL_STATE) == "ready", timeout=10_000)
    installed = tmp_path / "models" / "dit360-lora" / "adapter_model.safetensors"
    good = hashlib.sha256(installed.read_bytes()).hexdigest()
    data = bytearray(installed.read_bytes())
    data[-3] ^= 0xFF
    installed.write_bytes(bytes(data))
    dialog.verify_button.click()
    qtbot.waitUntil(lambda: any("damaged" in t for t, _ in dialog.messages), timeout=10_000)
    qtbot.waitUntil(lambda: _cell(dialog, "dit360-lora", COL_STATE) == "ready", timeout=20_000)
    qtbot.waitUntil(lambda: dialog.verify_button.isEnabled(), timeout=10_000)
    assert hashlib.sha256(installed.read_bytes()).hexdigest() == good
    assert set(hub.bytes_sent) == {"adapter_model.safetensors"}


def test_import_finds_a_metric_depth_model_and_redux_on_one_drive(
    qtbot, dialog: ModelManagerDialog, tmp_path: Path
) -> None:
    from dit360_desktop.models.redux import installed_redux_model
    from dit360_desktop.testing.tiny_depth import build_tiny_depth
    from dit360_desktop.testing.tiny_redux import build_tiny_redux

    drive = tmp_path / "usb"
    depth = build_tiny_depth(
        drive / "Depth-Anything-V2-Metric-Outdoor-Small-hf", hidden_size=384, metric=True, max_depth=80
    )
    redux = build_tiny_redux(drive / "FLUX.1-Redux-dev")
    dialog.import_from(drive, "in-place")
    qtbot.waitUntil(lambda: _cell(dialog, "flux1-redux-dev", COL_STATE) == "ready", timeout=20_000)
    qtbot.waitUntil(
        lambda: _cell(dialog, "depth-anything-v2-metric-outdoor-small", COL_STATE) == "ready", timeout=20_000
    )
    assert _cell(dialog, "depth-anything-v2-metric-outdoor-small", COL_WHERE) == str(depth)
    assert _cell(dialog, "depth-anything-v2-small", COL_STATE) == "missing"
    # The Redux folder's model_index.json does not make it a FLUX.1-dev candidate for the app's stricter
    # base-model check, which would refuse it.
    assert not any(err for _t, err in dialog.messages)
    assert installed_redux_model(tmp_path / "models") == redux


def test_location_change(qtbot, dialog: ModelManagerDialog, tmp_path: Path) -> None:
    target = tmp_path / "external" / "models"
    dialog._request_location.emit(str(target))
    qtbot.waitUntil(lambda: str(target) in dialog.location_label.text(), timeout=10_000)
