"""Issue 21, item 1: the app died (exit 139, a general protection fault in QtWidgets) on an EXR export
after a failed JPEG export and a cube map export. The cause: ``QDialog.exec`` hands the export dialog to
Python, the dialog sits in reference cycles, and the garbage collector, run by the interpreter on whichever
thread allocates, deleted it on the export thread while the UI thread used it. The same held for every
background op's relay (a parentless QObject in a cycle with its op).

The sequence and variations of it run in a child process (``export_sequence.py``) with a garbage
collection forced on the export thread at the start of every export; each must exit cleanly, destroy
every dialog and relay on the UI thread, write every export and leave no temp file."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("PySide6.QtWidgets")

from dit360_desktop.ui.ui_thread_gc import UiThreadGarbageCollector

SCRIPT = Path(__file__).with_name("export_sequence.py")

SEQUENCES = {
    "reported": ["jpeg-gpano:fail", "cubemap", "exr:hl=2"],
    "twice": ["jpeg-gpano:fail", "cubemap", "exr:hl=2", "jpeg-gpano:fail", "cubemap", "exr:hl=2"],
    "every-kind": ["png", "jpeg-gpano", "perspective", "cubemap-cross", "hdr:hl=4", "exr", "cubemap"],
    "failures-between": ["exr:fail", "hdr", "cubemap:fail", "exr:hl=8", "png:fail", "jpeg-gpano"],
}


@pytest.mark.parametrize("name", SEQUENCES)
def test_export_sequence_runs_without_a_crash(name: str, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    steps = SEQUENCES[name]
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(out), *steps], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stderr[-4000:]}"
    report = json.loads(out.read_text())
    off_thread = [d for d in report["destroyed"] if d["thread"] != "MainThread"]
    assert off_thread == []
    dialogs = [d for d in report["destroyed"] if d["kind"] == "ExportDialog"]
    assert len(dialogs) == len(steps)  # each dialog deleted once it closed, not left for the collector
    assert len(report["failures"]) == sum(":fail" in step for step in steps)
    assert all("export" in text.lower() for text in report["failures"])
    assert len(report["written"]) == sum(":fail" not in step for step in steps)
    assert all(Path(p).exists() for p in report["written"])
    assert report["partials"] == []


def test_the_collector_collects_cycles_on_the_ui_thread(qapp) -> None:
    was_enabled = gc.isenabled()
    collector = UiThreadGarbageCollector(qapp, interval_ms=10)
    seen: list[str] = []

    class Cycle:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            seen.append(threading.current_thread().name)

    try:
        assert not gc.isenabled()
        Cycle()
        # Allocations on another thread no longer trigger a collection there.
        worker = threading.Thread(target=lambda: [[] for _ in range(50_000)], name="worker")
        worker.start()
        worker.join()
        assert seen == []
        # Objects kept on the UI thread push the count past the threshold.
        kept = [[] for _ in range(gc.get_threshold()[0] + 1)]
        deadline = 200
        while not seen and deadline:
            qapp.processEvents()
            threading.Event().wait(0.01)
            deadline -= 1
        assert seen == ["MainThread"]
        assert collector.collections >= 1 and len(kept) > 0
    finally:
        collector.stop()
    assert gc.isenabled()
    if not was_enabled:
        gc.disable()
