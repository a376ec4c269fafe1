"""The reference slot takes a dropped picture (a real drop event; a broken file is a sentence), and each
guide names the model it needs, opening the model manager on it when it is missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication


def _drop(widget, path: Path) -> tuple[bool, bool]:
    """Drag ``path`` over ``widget`` and drop it, as the window system delivers it; (enter, drop) accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    centre = widget.rect().center()
    enter = QDragEnterEvent(
        QPoint(centre),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, enter)
    drop = QDropEvent(
        QPointF(centre),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, drop)
    return enter.isAccepted(), drop.isAccepted()


@pytest.mark.gl
def test_a_picture_dropped_on_the_reference_slot_becomes_the_reference(qtbot, window, tmp_path) -> None:
    photo = tmp_path / "photo.jpg"
    Image.fromarray(np.full((90, 120, 3), 128, np.uint8)).save(photo)
    slot = window.guides.panel.reference_image
    assert _drop(slot, photo) == (True, True)
    assert window.form["reference_image"] == str(photo)
    assert window.guides.panel.notice.text() == "Reference image: photo.jpg (120×90)."
    assert slot.edit.text() == str(photo)


@pytest.mark.gl
def test_a_broken_picture_dropped_on_the_reference_slot_is_a_sentence(qtbot, window, tmp_path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    _drop(window.guides.panel.reference_image, broken)
    notice = window.guides.panel.notice.text()
    assert notice.startswith("broken.png cannot be the reference image:") and "Traceback" not in notice
    assert window.form["reference_image"] is None


@pytest.mark.gl
def test_the_missing_redux_model_opens_the_model_manager_on_it(qtbot, window) -> None:
    from dit360_desktop.ui.model_manager.dialog import ModelManagerDialog

    panel = window.guides.panel
    window.guides.needs.refresh()
    assert panel.reference_need.label.text() == "FLUX.1-Redux-dev: not installed."
    assert panel.reference_need.button.isVisibleTo(panel)
    seen: list[str | None] = []

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, ModelManagerDialog):
            QTimer.singleShot(50, answer)
            return
        qtbot.waitUntil(lambda: dialog.selected_component() is not None, timeout=20_000)
        seen.append(dialog.selected_component())
        dialog.reject()

    QTimer.singleShot(0, answer)
    panel.reference_need.button.click()  # modal until answered
    assert seen == ["flux1-redux-dev"]
