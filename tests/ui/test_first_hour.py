"""The artist's first hour in the main window: the banner, the model manager from it, a refused model
folder, status after an install, the layout from the first frame, settings, the init image kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QKeySequence

from dit360_desktop.settings import Settings
from dit360_desktop.ui.common.jobs import ErrorKind, ModelState


@pytest.fixture
def window(qtbot):
    from dit360_desktop.ui.main_window import MainWindow

    made = []

    def open_window(settings: Settings | None = None):
        win = MainWindow(settings or Settings(), start_worker=False)
        win.confirm_stop = lambda: True
        qtbot.addWidget(win)
        with qtbot.waitSignal(win.first_exposed, timeout=20_000):
            win.show()
        made.append(win)
        return win

    yield open_window
    for win in made:
        win.close()


def test_banner_opens_the_manager_and_goes_when_models_arrive(
    qtbot, window, monkeypatch, tiny_flux_dir: Path, tiny_lora_dir: Path
) -> None:
    from dit360_desktop.models.importer import IN_PLACE, import_model
    from dit360_desktop.ui.model_manager import dialog as manager

    win = window()
    qtbot.waitUntil(lambda: win.model_banner.isVisible(), timeout=10_000)
    assert "No model is installed" in win.model_banner.message.text()
    opened = []
    monkeypatch.setattr(manager.ModelManagerDialog, "exec", lambda self: opened.append(self) or 0)
    win.model_banner.setup_button.click()
    assert len(opened) == 1
    dialog = opened[0]
    qtbot.waitUntil(lambda: dialog.selected_component() == "flux1-dev", timeout=10_000)
    assert dialog.guide_label.isVisibleTo(dialog)

    # A run failed before the import: the status bar says "not installed", the line "Failed".
    win.status.set_model_state(ModelState.MISSING)
    win.progress.show_idle("Failed")
    win.settings.model_dir = str(tiny_flux_dir)
    import_model(tiny_lora_dir, mode=IN_PLACE)
    dialog.installed_changed.emit()
    assert win.model_banner.isHidden()
    assert "not loaded" in win.status.model_label.text()
    assert win.progress.stage_label.text() == "Models installed: ready to generate"
    dialog.shutdown()


def test_model_folder_is_checked_when_chosen(
    qtbot, window, monkeypatch, tmp_path: Path, tiny_flux_dir: Path
) -> None:
    from dit360_desktop.testing.sparse_flux import build_sparse_flux_dev
    from dit360_desktop.ui.widgets import dialogs

    win = window()
    chosen = [tiny_flux_dir]
    monkeypatch.setattr(dialogs, "choose_folder", lambda *a, **k: chosen[0])
    win.app_actions.model_folder.trigger()
    report = win.last_error_dialog.report
    assert report.kind is ErrorKind.MODEL_INVALID and "num_layers = 1" in report.message
    assert win.last_error_dialog.model_manager_button is not None
    assert win.settings.model_dir is None
    win.last_error_dialog.close()

    chosen[0] = build_sparse_flux_dev(tiny_flux_dir, tmp_path / "FLUX.1-dev")
    win.app_actions.model_folder.trigger()
    assert win.settings.model_dir == str(chosen[0])
    assert "Model folder" in win.statusBar().currentMessage()


def test_verify_and_repair_is_suggested_only_for_files_the_manager_installed(
    qtbot, window, tiny_flux_dir: Path, tmp_path: Path
) -> None:
    from dit360_desktop.models.registry import SOURCE_IN_PLACE, RegistryEntry, update_registry
    from dit360_desktop.panorama.errors import DamagedFileError
    from dit360_desktop.ui.common.jobs import error_report

    win = window(Settings(model_dir=str(tiny_flux_dir), models_dir=str(tmp_path / "models")))
    own = DamagedFileError(tmp_path / "mine" / "x.safetensors", "x.safetensors is damaged or incomplete")
    dialog = win.show_error(error_report(own))
    assert (
        dialog.message_label.text()
        == "x.safetensors is damaged or incomplete. Delete it and download it again."
    )
    assert dialog.model_manager_button is not None
    dialog.close()

    managed = tmp_path / "models" / "flux1-dev"
    update_registry(
        tmp_path / "models", RegistryEntry("flux1-dev", managed, SOURCE_IN_PLACE, True, None, None, {})
    )
    damaged = DamagedFileError(managed / "vae" / "x.safetensors", "x.safetensors is damaged or incomplete")
    dialog = win.show_error(error_report(damaged))
    assert "press Verify & repair" in dialog.message_label.text()
    dialog.close()


def test_history_is_there_at_first_paint_and_does_not_jump(qtbot, window) -> None:
    win = window()
    assert win.history_dock.isVisible() and win.gallery is None
    height = win.history_dock.height()
    viewer_height = win.centre.height()
    qtbot.waitUntil(lambda: win.gallery is not None, timeout=20_000)
    qtbot.wait(200)
    assert win.history_dock.height() == height
    # The viewer area is wider than tall: landscape by default.
    assert win.centre.width() > win.centre.height() and abs(win.centre.height() - viewer_height) < 80
    assert win.app_actions.toggle_history.isChecked()
    win.app_actions.toggle_side_panel.trigger()
    assert win.side_dock.isHidden() and not win.app_actions.toggle_side_panel.isChecked()


def test_the_side_column_scrolls_only_up_and_down(qtbot, window) -> None:
    """Every section fits the column's width beside its vertical scroll bar, in a narrow window too:
    content wider than the viewport was cut off on the right, and scrolling a field into view shifted
    the column sideways and cut its labels on the left."""
    win = window()
    panel = win.side_panel
    for width in (1400, 900):
        win.resize(width, 800)
        qtbot.wait(50)
        content = panel.scroll.widget()
        assert content.width() <= panel.scroll.viewport().width()
        assert panel.scroll.horizontalScrollBar().maximum() == 0
        panel.scroll.ensureWidgetVisible(win.params_panel)
        assert panel.scroll.horizontalScrollBar().value() == 0


def test_init_image_is_restored_on_relaunch(qtbot, window, tmp_path: Path) -> None:
    picture = tmp_path / "start.png"
    Image.fromarray(np.full((100, 300, 3), 90, np.uint8)).save(picture)  # 3:1, fitted with "pad"
    win = window(Settings(init_image=str(picture), init_fit="pad"))
    qtbot.waitUntil(lambda: win.init_image is not None, timeout=20_000)
    assert (win.init_image.path, win.init_image.fit) == (str(picture), "pad")
    win.save_settings()
    assert (win.settings.init_image, win.settings.init_fit) == (str(picture), "pad")
    win.generation.clear_init_image()
    win.save_settings()
    assert win.settings.init_image is None


def test_settings_dialog_from_the_window(qtbot, window, monkeypatch) -> None:
    from dit360_desktop.ui import settings_dialog

    win = window()
    assert QKeySequence("Ctrl+,") in win.app_actions.settings.shortcuts()

    def exec_and_change(self) -> int:
        self.preview_check.setChecked(False)
        self.tier_combo.setCurrentIndex(self.tier_combo.findData("12gb"))
        self.accept()
        return settings_dialog.SettingsDialog.DialogCode.Accepted

    monkeypatch.setattr(settings_dialog.SettingsDialog, "exec", exec_and_change)
    win.app_actions.settings.trigger()
    assert win.settings.live_preview is False and win.form["tier"] == "12gb"
    shown = []
    monkeypatch.setattr(win.viewer, "set_preview", lambda p: shown.append(p))
    win.generation.preview_ready.emit(np.zeros((8, 16, 3), np.uint8))
    assert shown == []
