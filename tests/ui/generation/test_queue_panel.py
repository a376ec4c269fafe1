"""Queue rows: seed and size on every row, finished jobs kept with a thumbnail."""

from __future__ import annotations

import numpy as np

from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.ui.common.jobs import FinishedJob, JobInfo, JobStatus
from dit360_desktop.ui.generation.queue_panel import MAX_DONE_ROWS, THUMB_SIZE, QueuePanel


def _request(seed: int | None) -> GenerationRequest:
    return GenerationRequest("This is a panorama image. A harbour at dawn", seed=seed, width=1024, height=512)


def test_rows_tell_variations_apart(qtbot) -> None:
    panel = QueuePanel()
    qtbot.addWidget(panel)
    panel.set_jobs([JobInfo(1, _request(7), JobStatus.RUNNING), JobInfo(2, _request(8), JobStatus.QUEUED)])
    texts = [panel.list.item(i).text() for i in range(panel.list.count())]
    assert texts == [
        "A harbour at dawn\nseed 7 · 1024×512 · ▶ running",
        "A harbour at dawn\nseed 8 · 1024×512 · waiting",
    ]


def test_finished_jobs_keep_a_thumbnail(qtbot) -> None:
    panel = QueuePanel()
    qtbot.addWidget(panel)
    image = np.zeros((64, 128, 3), np.uint8)
    image[:, :64] = (255, 0, 0)
    for job_id in range(MAX_DONE_ROWS + 2):
        panel.add_finished(FinishedJob(job_id, _request(100 + job_id), image, {"timings": {"denoise": 1.25}}))
    panel.set_jobs([JobInfo(50, _request(None), JobStatus.QUEUED)])
    assert panel.list.count() == 1 + MAX_DONE_ROWS
    assert panel.list.item(0).text() == "A harbour at dawn\nrandom seed · 1024×512 · waiting"
    newest = panel.list.item(1)
    assert newest.text() == f"A harbour at dawn\nseed {100 + MAX_DONE_ROWS + 1} · 1024×512 · done in 1.2 s"
    pixels = newest.icon().pixmap(THUMB_SIZE).toImage()
    assert pixels.pixelColor(4, 16).red() > 200 and pixels.pixelColor(60, 16).red() < 40
    # Finished rows are not queue entries: nothing to move or remove.
    panel.list.setCurrentRow(2)
    assert panel.selected_job() is None and not panel.remove_button.isEnabled()
    assert not panel.empty_label.isVisible()
