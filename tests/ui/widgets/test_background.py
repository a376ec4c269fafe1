"""BackgroundOp: the op runs off the UI thread, callbacks on it; progress, failure, cancel, dead parents."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QObject, QThreadPool

from dit360_desktop.ui.widgets.background import BackgroundOp, OpContext


def test_the_op_runs_off_the_ui_thread_and_success_comes_back_on_it(qtbot) -> None:
    ui = threading.current_thread()
    ran_in, called_in, results = [], [], []

    def op(ctx: OpContext) -> int:
        ran_in.append(threading.current_thread())
        return 6 * 7

    def success(value: int) -> None:
        called_in.append(threading.current_thread())
        results.append(value)

    BackgroundOp(None, op, success).run_in_background()
    qtbot.waitUntil(lambda: results == [42], timeout=5000)
    assert ran_in and ran_in[0] is not ui
    assert called_in == [ui]


def test_progress_arrives_in_order_on_the_ui_thread_before_success(qtbot) -> None:
    ui = threading.current_thread()
    events: list[tuple[str, object, bool]] = []

    def op(ctx: OpContext) -> str:
        for i in range(5):
            ctx.report(i)
        return "done"

    op_ = BackgroundOp(None, op, lambda r: events.append(("done", r, threading.current_thread() is ui)))
    op_.with_progress(lambda v: events.append(("progress", v, threading.current_thread() is ui)))
    op_.run_in_background()
    qtbot.waitUntil(lambda: len(events) == 6, timeout=5000)
    assert events == [*(("progress", i, True) for i in range(5)), ("done", "done", True)]


def test_an_exception_goes_to_the_failure_callback(qtbot) -> None:
    errors, results = [], []
    op_ = BackgroundOp(None, lambda ctx: 1 / 0, results.append).failure(errors.append)
    op_.run_in_background()
    qtbot.waitUntil(lambda: len(errors) == 1, timeout=5000)
    assert isinstance(errors[0], ZeroDivisionError) and results == []


def test_cancel_stops_a_cooperative_op_and_silences_its_callbacks(qtbot) -> None:
    started, release = threading.Event(), threading.Event()
    steps, outcome = [], []

    def op(ctx: OpContext) -> int:
        started.set()
        release.wait(5)
        for i in range(1000):
            ctx.raise_if_cancelled()
            steps.append(i)
        return len(steps)

    op_ = BackgroundOp(None, op, outcome.append).failure(outcome.append).with_progress(outcome.append)
    op_.run_in_background(QThreadPool.globalInstance())
    assert started.wait(5)
    op_.cancel()
    release.set()
    assert op_.wait(5)
    qtbot.wait(100)
    assert steps == [] and outcome == [] and op_.cancelled


def test_no_callback_reaches_a_deleted_parent(qtbot) -> None:
    parent = QObject()
    release = threading.Event()
    called = []
    op_ = BackgroundOp(parent, lambda ctx: release.wait(5), called.append).failure(called.append)
    op_.run_in_background()
    parent.deleteLater()
    qtbot.waitUntil(lambda: not _valid(parent), timeout=5000)
    release.set()
    assert op_.wait(5)
    qtbot.wait(100)
    assert called == []


def _valid(obj: QObject) -> bool:
    import shiboken6

    return shiboken6.isValid(obj)


@pytest.mark.parametrize("fail", [False, True])
def test_an_unreferenced_op_still_delivers(qtbot, fail: bool) -> None:
    """Callers may drop the op right after starting it; it stays alive until its callback has run."""
    got = []

    def op(ctx: OpContext) -> str:
        if fail:
            raise ValueError("bad")
        return "ok"

    BackgroundOp(None, op, got.append).failure(lambda e: got.append(str(e))).run_in_background()
    qtbot.waitUntil(lambda: got == (["bad"] if fail else ["ok"]), timeout=5000)
