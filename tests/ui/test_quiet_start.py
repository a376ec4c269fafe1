"""The generation thread's library import starts at the first pause after the gallery is in
(ui/startup.py QuietStart, issue 21 item 12): not while the person types or moves the mouse, not before
``ready``, once, and after ``give_up_s`` whatever the input does."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLineEdit

from dit360_desktop.ui.startup import QuietStart


@pytest.fixture
def field(qtbot) -> QLineEdit:
    """A shown line edit that real key events go to."""
    widget = QLineEdit()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def typing(qtbot, field: QLineEdit, seconds: float) -> None:
    """Real key events through the application's event dispatch, one every 50 ms."""
    for _ in range(int(seconds / 0.05)):
        QTest.keyClick(field, Qt.Key.Key_A)
        qtbot.wait(50)


def test_waits_for_ready_and_a_pause_in_the_input_then_starts_once(qtbot, field) -> None:
    started: list[int] = []
    ready = [False]
    quiet = QuietStart(field, lambda: started.append(1), lambda: ready[0], pause_s=0.4, give_up_s=60)
    qtbot.wait(600)
    assert started == []  # quiet, but the gallery is not in yet
    ready[0] = True
    typing(qtbot, field, 1.0)
    assert started == [] and field.text().count("a") >= 10  # typing: no start
    qtbot.waitUntil(lambda: started == [1], timeout=5_000)
    typing(qtbot, field, 0.3)
    qtbot.wait(600)
    assert started == [1] and quiet.started


def test_gives_up_waiting_for_a_pause(qtbot, field) -> None:
    started: list[int] = []
    QuietStart(field, lambda: started.append(1), lambda: False, pause_s=10, give_up_s=0.5)
    typing(qtbot, field, 0.2)
    assert started == []
    typing(qtbot, field, 0.8)
    assert started == [1]


def test_watches_the_input_only_once_ready_and_counts_the_pause_from_there(qtbot, field) -> None:
    # An application-wide filter is a Python call per event: none while the start-up builds the window.
    started: list[int] = []
    ready = [False]
    quiet = QuietStart(field, lambda: started.append(1), lambda: ready[0], pause_s=0.5, give_up_s=60)
    before = quiet.last_input
    typing(qtbot, field, 0.3)
    assert quiet.last_input == before  # not watched yet
    ready[0] = True
    qtbot.waitUntil(lambda: quiet.last_input > before, timeout=2_000)  # watching from here
    became_ready = quiet.last_input
    qtbot.waitUntil(lambda: started == [1], timeout=5_000)
    assert time.monotonic() - became_ready >= 0.5


def test_no_pause_asked_starts_as_soon_as_ready(qtbot, field) -> None:
    started: list[int] = []
    ready = [False]
    QuietStart(field, lambda: started.append(1), lambda: ready[0], pause_s=0, give_up_s=60)
    qtbot.wait(300)
    assert started == []
    ready[0] = True
    qtbot.waitUntil(lambda: started == [1], timeout=1_000)
