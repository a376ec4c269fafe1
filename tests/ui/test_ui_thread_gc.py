"""The UI thread's garbage collector (ui/ui_thread_gc.py): what imports made is frozen before a pass would
traverse it (issue 21 item 12), and cycles made later are still collected, on the UI thread."""

from __future__ import annotations

import gc
import sys
import threading
import types
import weakref

import pytest

from dit360_desktop.ui.ui_thread_gc import FREEZE_AFTER_MODULES, UiThreadGarbageCollector


@pytest.fixture
def collector(qapp):
    thresholds = gc.get_threshold()
    made = UiThreadGarbageCollector(qapp, interval_ms=3_600_000)  # driven by hand: check()
    yield made
    made.stop()
    gc.set_threshold(*thresholds)
    gc.unfreeze()


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_after_imports_everything_tracked_is_frozen_first(collector) -> None:
    names = [f"_dit360_gc_test_module_{i}" for i in range(FREEZE_AFTER_MODULES)]
    # Objects a library's import leaves behind: module-level, reachable, long-lived.
    for name in names:
        module = types.ModuleType(name)
        module.table = {i: [i] for i in range(50)}
        sys.modules[name] = module
    try:
        frozen_before = gc.get_freeze_count()
        young_before = gc.get_count()[0]
        collector.check()
        assert collector.freezes == 1
        assert gc.get_freeze_count() >= frozen_before + FREEZE_AFTER_MODULES * 50
        assert gc.get_count()[0] <= young_before  # nothing young left to traverse
        assert collector.collections == 0  # the freeze took that tick, no pass ran
        collector.check()
        assert collector.freezes == 1  # no new modules: no second freeze
    finally:
        for name in names:
            del sys.modules[name]


def test_cycles_made_after_a_freeze_are_collected_on_the_ui_thread(collector) -> None:
    gc.freeze()
    gc.set_threshold(1, 1, 1)
    collected_on: list[int] = []

    class Tracked(Node):
        def __del__(self) -> None:
            collected_on.append(threading.get_ident())

    a, b = Tracked(), Tracked()
    a.other, b.other = b, a
    alive = weakref.ref(a)
    del a, b
    for _ in range(5):
        _ = [[] for _ in range(10)]  # allocations push the young count over its threshold
        collector.check()
        if alive() is None:
            break
    assert alive() is None, "a cycle made after the freeze was never collected"
    assert collected_on == [threading.get_ident()] * 2
    assert collector.collections >= 1
