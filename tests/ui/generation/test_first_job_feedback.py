"""The first job waits while the generation thread imports the model libraries (issue 21.7): the window
says so within half a second of Generate, with progress, and Cancel takes the waiting job off."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("PySide6.QtWidgets")

from PySide6.QtCore import Qt

from dit360_desktop.settings import Settings


@pytest.fixture
def window(qtbot, tmp_path):
    from dit360_desktop.ui.main_window import MainWindow

    # start_worker=False: the generation thread has not imported its libraries yet, as on a first run.
    win = MainWindow(Settings(library_dir=str(tmp_path / "library")), start_worker=False)
    win.confirm_stop = lambda: True
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.first_exposed, timeout=20_000):
        win.show()
    yield win
    win.close()


def test_generate_says_the_libraries_are_loading_and_cancel_takes_the_job_off(qtbot, window) -> None:
    window.prompt_panel.prompt_edit.setPlainText("a harbour at dawn")
    pressed = time.monotonic()
    qtbot.mouseClick(window.generate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Loading model libraries" in window.progress.stage_label.text(), timeout=500)
    assert time.monotonic() - pressed < 0.5
    assert window.progress.bar.isVisible() and window.progress.bar.maximum() == 4
    assert "model libraries" in window.progress.bar.format()
    assert window.cancel_button.isEnabled()
    assert [job.status.name for job in window.worker.snapshot()] == ["QUEUED"]

    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    assert window.worker.snapshot() == []
    assert window.progress.stage_label.text() == "Cancelled"
    assert not window.cancel_button.isEnabled()


def test_no_loading_note_once_the_libraries_are_in(qtbot, window) -> None:
    with qtbot.waitSignal(window.worker.preload_finished, timeout=120_000):
        window.start_worker()
    window.prompt_panel.prompt_edit.setPlainText("a harbour at dawn")
    window.generate()
    qtbot.wait(100)
    assert "Loading model libraries" not in window.progress.stage_label.text()
