"""The generation thread's library import starts at the first pause after the gallery is in
(ui/startup.py QuietStart, issue 21 item 12): not while the person types or moves the mouse, not before
``ready``, once, and after ``give_up_s`` whatever the input does."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLineEdit

from dit360_desktop.ui.startup import QuietStart


def typing(qtbot, field: QLineEdit, seconds: float) -> None:
    """Real key events through the application's event dispatch, one every 50 ms."""
    for _ in range(int(seconds / 0.05)):
        QTest.keyClick(field, Qt.Key.Key_A)
        qtbot.wait(50)


def test_waits_for_ready_and_a_pause_in_the_input_then_starts_once(qtbot) -> None:
    field = QLineEdit()
    qtbot.addWidget(field)
    field.show()
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


def test_gives_up_waiting_for_a_pause(qtbot) -> None:
    field = QLineEdit()
    qtbot.addWidget(field)
    field.show()
    started: list[int] = []
    QuietStart(field, lambda: started.append(1), lambda: False, pause_s=10, give_up_s=0.5)
    typing(qtbot, field, 0.2)
    assert started == []
    typing(qtbot, field, 0.8)
    assert started == [1]
