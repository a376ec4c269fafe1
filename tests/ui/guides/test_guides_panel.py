"""The Guides panel in the main window: chosen files and numbers reach the run's request, the result
keeps them, and "Re-use parameters" brings them back into the panel."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from dit360_desktop import paths
from dit360_desktop.settings import Settings

# The docs' screenshot is rewritten only when asked (DIT360_SCREENSHOTS=1), so a test run leaves the
# checkout clean.
SHOTS = (
    Path(__file__).resolve().parents[3] / "docs" / "screenshots"
    if os.environ.get("DIT360_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "dit360-test-shots"
)


@pytest.fixture
def control_files(tiny_flux_dir, tmp_path):
    from dit360_desktop.testing.tiny_control import build_tiny_control_lora

    lora = build_tiny_control_lora(tmp_path / "control.safetensors", tiny_flux_dir / "transformer")
    pixels = np.zeros((128, 256, 3), np.uint8)
    pixels[40:90, 60:200] = 255
    image = tmp_path / "depth.png"
    Image.fromarray(pixels).save(image)
    return image, lora


def test_guides_reach_the_run_and_come_back(qtbot, make_worker, shared_engine, control_files, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from dit360_desktop.history.library import Library
    from dit360_desktop.ui.main_window import MainWindow

    image, lora = control_files
    worker = make_worker(shared_engine, store_factory=lambda: Library.open(paths.default_library_dir()))
    window = MainWindow(Settings(), worker=worker)
    window.confirm_stop = lambda: True
    qtbot.addWidget(window)
    window.resize(1280, 900)
    with qtbot.waitSignal(window.first_exposed, timeout=20_000):
        window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: getattr(window, "guides", None) is not None, timeout=30_000)
    panel = window.guides.panel

    # Choose… opens a file dialog; it answers with our files.
    for row, path in ((panel.control_image, image), (panel.control_lora, lora)):
        monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, p=path: (str(p), ""))
        next(b for b in row.findChildren(_button_type()) if b.text() == "Choose…").click()
    assert panel.control_image.edit.text() == str(image)
    window.form.set("control_scale", 0.75)
    window.form.set("control_end", 0.6)

    window.prompt_panel.prompt_edit.setPlainText("a misty lake at dawn")
    window.params_panel.set_size(256, 128)
    window.params_panel.steps.setValue(2)
    window.params_panel.set_seed(77, lock=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    window.side_panel.scroll.ensureWidgetVisible(panel)
    qtbot.wait(200)
    panel.grab().save(str(SHOTS / "guides-panel.png"))

    window.prompt_panel.prompt_edit.setFocus()
    qtbot.keyClick(window.prompt_panel.prompt_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.last_finished is not None, timeout=120_000)
    finished = window.last_finished
    assert finished.request.control_image == str(image)
    assert finished.request.control_lora == str(lora)
    assert (finished.request.control_scale, finished.request.control_end) == (0.75, 0.6)

    # Cleared, then restored from the history entry.
    next(b for b in panel.control_image.findChildren(_button_type()) if b.text() == "Clear").click()
    window.form.set("control_scale", 1.0)
    assert panel.control_image.edit.text() == ""
    window.gallery.reuse_parameters_requested.emit(finished.entry.params)
    assert window.form["control_scale"] == 0.75
    window.close()
    qtbot.waitUntil(lambda: not window.worker.isRunning(), timeout=60_000)


def _button_type():
    from PySide6.QtWidgets import QPushButton

    return QPushButton
