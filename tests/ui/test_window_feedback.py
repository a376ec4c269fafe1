"""#21 item 10 in the window: F10 folds the Cluster dock with the queue and the history, a cancelled job
stays as a "cancelled" queue row, and a Generate that runs nothing (empty prompt, no model) keeps the seed
the form showed."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from dit360_desktop.settings import Settings


@pytest.fixture
def window(qtbot, make_worker, tmp_path):
    from dit360_desktop.ui.main_window import MainWindow

    window = MainWindow(
        Settings(),
        worker=make_worker(model_dir=tmp_path / "no-model"),
        library_dir_override=tmp_path / "library",
        start_worker=False,
    )
    window.confirm_stop = lambda: True
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.first_exposed, timeout=20_000):
        window.show()
    yield window
    window.close()


def test_f10_folds_the_cluster_dock_with_the_queue_and_history(qtbot, window) -> None:
    docks = [window.queue_dock, window.history_dock, window.cluster.dock]
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    QTest.keyClick(window, Qt.Key.Key_F10)
    qtbot.waitUntil(lambda: all(dock.isHidden() for dock in docks), timeout=2_000)
    assert not window.app_actions.toggle_history.isChecked()
    QTest.keyClick(window, Qt.Key.Key_F10)
    qtbot.waitUntil(lambda: not any(dock.isHidden() for dock in docks), timeout=2_000)


def test_a_cancelled_job_stays_in_the_queue_as_cancelled(qtbot, window, small_request) -> None:
    request = small_request(seed=41)
    worker = window.worker
    worker.job_started.emit(7, request)  # what the generation thread reports, here without a model
    worker.job_cancelled.emit(7)
    rows = window.queue_panel.done_rows()
    assert len(rows) == 1 and "cancelled · seed 41" in rows[0]
    assert window.queue_panel.list.count() == 1


def test_a_refused_generate_keeps_the_seed(qtbot, window) -> None:
    form = window.form
    shown = form["seed"]
    form.set("prompt", "")
    window.generate()  # refused: empty prompt
    assert form["seed"] == shown
    assert window.last_error_dialog is not None
    window.last_error_dialog.close()

    form.set("prompt", "a lighthouse in fog")
    window._start_worker = True
    failed = []
    window.worker.job_failed.connect(lambda job_id, report: failed.append(report))
    assert window.generate()  # queued, then refused by the worker: no model is installed
    qtbot.waitUntil(lambda: bool(failed), timeout=120_000)
    qtbot.wait(50)
    assert failed[0].kind.value == "model_missing"
    assert form["seed"] == shown  # nothing ran with the seed drawn for it


def test_the_viewer_remembers_its_folders_in_the_window_settings(window, tmp_path) -> None:
    controls = window.view_controls
    controls.folders()["snapshot"] = str(tmp_path)
    assert window.settings.last_folders["snapshot"] == str(tmp_path)
    window.settings.last_folders = {"snapshot": "/elsewhere"}  # the Settings dialog replaces the dict
    assert controls.folders()["snapshot"] == "/elsewhere"


def test_an_entry_action_offered_after_the_history_closed_goes_nowhere(qtbot, window) -> None:
    from PySide6.QtGui import QAction

    qtbot.waitUntil(lambda: window.gallery is not None, timeout=20_000)
    window.history.shutdown()
    window.context.history.add_entry_action(QAction("Late", window))  # raised in the gallery's slot
    window.context.history.add_entry(None)
    assert window.gallery is None


def test_worker_signals_after_the_window_is_gone_reach_nothing(qtbot, make_worker, tmp_path) -> None:
    """The window can close while its generation thread still starts (device detection, the model state):
    what the worker says then must not touch the status bar's deleted labels."""
    import shiboken6
    from PySide6.QtCore import QCoreApplication, QEvent

    from dit360_desktop.ui.common.jobs import ModelState
    from dit360_desktop.ui.main_window import MainWindow

    worker = make_worker(model_dir=tmp_path / "no-model")
    window = MainWindow(
        Settings(), worker=worker, library_dir_override=tmp_path / "library", start_worker=False
    )
    window.confirm_stop = lambda: True
    label = window.status.device_label
    window.close()
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not shiboken6.isValid(label)
    worker.device_changed.emit("CPU")
    worker.model_state_changed.emit(ModelState.READY)
    worker.memory_changed.emit(1024)
    QCoreApplication.processEvents()  # pytest-qt fails the test on an exception raised in a slot
