"""Generate → "Send queue to cluster…" in the real main window, with a driver that needs no Ray.

The scripted driver runs in the bridge's thread and reports as the real one does: a worker joins, one job
runs on it and is saved into the library (through the same idempotent save), then the cluster goes away.
The window must show which worker ran the job, put the result in the gallery, and give the unfinished
jobs back to the local queue.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.cluster import events as ev
from dit360_desktop.cluster.jobs import BatchSummary, JobOutcome, JobStatus
from dit360_desktop.cluster.wire import WorkerInfo
from dit360_desktop.history.saving import JobKey, save_result
from dit360_desktop.panorama.result import Result
from dit360_desktop.settings import Settings
from dit360_desktop.ui.cluster.dialog import ClusterChoice
from dit360_desktop.ui.common.jobs import JobStatus as LocalStatus

WORKER = WorkerInfo(name="worker-1", host="gpu-node-3", node_ip="10.0.0.3", pid=4242)


class ScriptedDriver:
    """Saves the first job, then loses the cluster; records the thread it ran in."""

    instances: ClassVar[list] = []

    def __init__(self, options, library, on_event) -> None:
        self.options, self.library, self.on_event = options, library, on_event
        self.thread = None
        self.cancelled = threading.Event()
        ScriptedDriver.instances.append(self)

    def cancel(self) -> None:
        self.cancelled.set()

    def run(self, jobs):
        self.thread = threading.current_thread()
        first, rest = jobs[0], jobs[1:]
        self.on_event(ev.WorkerJoined(WORKER))
        self.on_event(ev.JobStarted(first.job_id, WORKER, 1))
        preview = np.zeros((8, 16, 3), dtype=np.uint8)
        preview[..., 0] = 255
        self.on_event(ev.JobStep(first.job_id, 1, 2, 0.1, 0.1, WORKER.label, preview))
        request = first.request.with_seed()
        image = Image.fromarray(np.full((request.height, request.width, 3), 90, dtype=np.uint8))
        result = Result(image=image, request=request, metadata={})
        entry = save_result(result, library=self.library, job=JobKey(first.job_id, {})).entry
        self.on_event(ev.JobSaved(first.job_id, entry, WORKER))
        unfinished = tuple(job.job_id for job in rest)
        self.on_event(ev.ClusterLost("connection reset by peer", unfinished))
        outcomes = [JobOutcome(first.job_id, JobStatus.DONE)] + [
            JobOutcome(j, JobStatus.UNFINISHED) for j in unfinished
        ]
        return BatchSummary(outcomes, error="connection reset by peer")


@pytest.fixture
def window(qtbot, make_worker, tmp_path):
    from dit360_desktop.ui.main_window import MainWindow

    ScriptedDriver.instances.clear()
    # Not started: queued jobs stay queued, as they do behind a running one.
    worker = make_worker()
    window = MainWindow(Settings(library_dir=str(tmp_path / "lib")), worker=worker, start_worker=False)
    window.cluster._driver_factory = ScriptedDriver
    qtbot.addWidget(window)
    window.show()
    yield window
    window.cluster.shutdown()


def test_the_main_window_module_imports_neither_ray_nor_the_cluster_package() -> None:
    code = (
        "import sys, dit360_desktop.ui.main_window; "
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('dit360_desktop.cluster')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_menu_entry_and_dock(window) -> None:
    assert window.cluster.action.text() == "Send queue to &cluster…"  # Alt+G, C
    assert window.cluster.action in window.menus.generate.actions()


def test_sent_jobs_run_remotely_land_in_the_gallery_and_come_back_when_the_cluster_goes(
    qtbot, window, small_request, tmp_path
) -> None:
    window.worker.enqueue_many([small_request(seed=s, width=128, height=64) for s in (1, 2, 3)])
    assert window.cluster.send_queue(ClusterChoice("ray://head:10001", "", False, 2))
    # The waiting jobs left the local queue, and the address is remembered.
    assert window.worker.snapshot() == []
    assert window.settings.cluster_address == "ray://head:10001"
    qtbot.waitUntil(lambda: not window.cluster.running, timeout=30_000)
    qtbot.waitUntil(lambda: "back in the local queue" in window.cluster.last_notice, timeout=10_000)

    driver = ScriptedDriver.instances[0]
    assert driver.thread is not threading.main_thread()
    assert driver.options.address == "ray://head:10001" and driver.options.retries == 2
    first = next(iter(window.cluster.requests))
    row = window.cluster.panel.row(first)
    assert (row.state, row.worker) == ("done", "worker-1@gpu-node-3")
    assert "done on worker-1@gpu-node-3" in window.cluster.panel.list.item(0).text()
    # The preview arrived as the row's icon: red, as sent.
    icon = window.cluster.panel.list.item(0).icon().pixmap(48, 24).toImage()
    assert icon.pixelColor(24, 12).red() > 200 and icon.pixelColor(24, 12).green() < 50
    assert window.cluster.panel.list.item(1).icon().isNull()
    # The unfinished two are local again, waiting, with their own seeds.
    back = window.worker.snapshot()
    assert [job.status for job in back] == [LocalStatus.QUEUED] * 2
    assert [job.request.seed for job in back] == [2, 3]
    assert "2 unfinished job(s) are back in the local queue" in window.cluster.last_notice
    # The saved result is in the library the gallery shows.
    if window.gallery is None:
        window.history.attach()  # opens the library on the thread pool, then builds the gallery
    qtbot.waitUntil(
        lambda: window.gallery is not None and window.gallery.library.count() == 1, timeout=10_000
    )


def test_an_empty_queue_is_not_sent(window) -> None:
    assert not window.cluster.send_queue(ClusterChoice("local", "", False, 2))
    assert "no waiting jobs" in window.cluster.last_notice
    assert ScriptedDriver.instances == []


def test_init_images_travel_with_the_job(qtbot, window, small_request, tmp_path) -> None:
    Image.new("RGB", (128, 64), (1, 2, 3)).save(tmp_path / "start.png")
    window.worker.enqueue(small_request(seed=5, width=128, height=64, init_image=str(tmp_path / "start.png")))
    sent = []
    window.cluster._driver_factory = lambda options, library, on_event: _Recorder(sent)
    assert window.cluster.send_queue(ClusterChoice("local", "/shared/flux", False, 1))
    qtbot.waitUntil(lambda: bool(sent), timeout=10_000)
    (job,) = sent[0]
    assert job.files["init_image"] == (tmp_path / "start.png").read_bytes()
    assert job.request.init_image == str(tmp_path / "start.png")


class _Recorder:
    def __init__(self, sink: list) -> None:
        self.sink = sink

    def cancel(self) -> None:
        pass

    def run(self, jobs):
        self.sink.append(jobs)
        return BatchSummary([JobOutcome(j.job_id, JobStatus.DONE) for j in jobs])
