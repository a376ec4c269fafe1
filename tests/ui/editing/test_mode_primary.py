"""#21 item 9: edit and placement modes show one primary button (their own, in place of Generate), Ctrl+Enter
runs it, and the prompt stays on screen however far the mode's panel scrolls."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QPushButton

from dit360_desktop.settings import Settings

pytestmark = pytest.mark.gl


@pytest.fixture
def window(qtbot, make_worker, tmp_path):
    from dit360_desktop.ui.main_window import MainWindow

    window = MainWindow(
        Settings(), worker=make_worker(), library_dir_override=tmp_path / "library", start_worker=False
    )
    window.confirm_stop = lambda: True
    qtbot.addWidget(window)
    window.resize(1280, 720)
    with qtbot.waitSignal(window.first_exposed, timeout=20_000):
        window.show()
    yield window
    window.close()


def primary_buttons(window) -> list[QPushButton]:
    """The visible buttons drawn in the primary (blue) style."""
    return [
        button
        for button in window.side_panel.findChildren(QPushButton)
        if button.isVisible() and button.objectName() in ("GenerateButton", "ModeActionButton")
    ]


def fully_on_screen(widget) -> bool:
    region = widget.visibleRegion().boundingRect()
    return widget.isVisible() and region.height() >= widget.height() - 1 and region.width() > 0


def test_edit_mode_has_one_primary_button_ctrl_enter_runs_it_and_the_prompt_stays_visible(
    qtbot, window, tmp_path, analytic
):
    pano, mask = tmp_path / "pano.png", tmp_path / "mask.png"
    Image.fromarray(analytic).save(pano)
    white = np.zeros(analytic.shape[:2], np.uint8)
    white[:, : white.shape[1] // 4] = 255
    Image.fromarray(white).save(mask)
    assert [b.text().strip() for b in primary_buttons(window)] == ["Generate"]

    editing = window.editing
    assert editing.edit.start(pano)
    qtbot.wait(50)
    (primary,) = primary_buttons(window)
    assert primary.text().strip() == "Run edit" and not primary.isEnabled()  # nothing painted yet
    assert not editing.edit_panel.run_button.isVisible()  # no grey copy in the panel
    assert fully_on_screen(window.prompt_panel.prompt_edit)
    # The mode's panel scrolled into view (its title at least) below the prompt.
    shown = editing.edit_panel.visibleRegion().boundingRect()
    assert shown.top() == 0 and shown.height() > 100

    assert editing.edit.import_mask(mask)
    assert primary.isEnabled()
    window.form.set("prompt", "a frozen lake")
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    window.prompt_panel.prompt_edit.setFocus()
    QTest.keyClick(window.prompt_panel.prompt_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    jobs = window.worker.snapshot()
    assert len(jobs) == 1 and jobs[0].request.mask_image  # the edit, not a fresh generation

    editing.edit.stop()
    assert [b.text().strip() for b in primary_buttons(window)] == ["Generate"]


def test_placement_mode_shows_outpaint_as_the_primary_button(qtbot, window, tmp_path, analytic):
    photo = tmp_path / "photo.png"
    Image.fromarray(analytic[:96, :128]).save(photo)
    editing = window.editing
    assert editing.placement.start(photo)
    qtbot.waitUntil(
        lambda: (
            len(primary_buttons(window)) == 1
            and primary_buttons(window)[0].text().strip() == "Outpaint the rest"
        ),
        timeout=10_000,
    )
    assert not editing.placement_panel.outpaint_button.isVisible()
    assert fully_on_screen(window.prompt_panel.prompt_edit)
    editing.placement.stop()
    assert [b.text().strip() for b in primary_buttons(window)] == ["Generate"]
