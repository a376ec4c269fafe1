"""Queue rows: status, seed and size on every row, readable in the narrow column; finished jobs kept with a
thumbnail, cancelled ones until the app closes."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.ui.common.jobs import FinishedJob, JobInfo, JobStatus
from dit360_desktop.ui.generation.queue_panel import CANCELLED_TILE, MAX_DONE_ROWS, THUMB_SIZE, QueuePanel


def _request(seed: int | None) -> GenerationRequest:
    return GenerationRequest("This is a panorama image. A harbour at dawn", seed=seed, width=1024, height=512)


def test_rows_tell_variations_apart(qtbot) -> None:
    panel = QueuePanel()
    qtbot.addWidget(panel)
    panel.set_jobs([JobInfo(1, _request(7), JobStatus.RUNNING), JobInfo(2, _request(8), JobStatus.QUEUED)])
    texts = [panel.list.item(i).text() for i in range(panel.list.count())]
    assert texts == [
        "A harbour at dawn\n▶ running · seed 7 · 1024×512",
        "A harbour at dawn\nwaiting · seed 8 · 1024×512",
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
    assert panel.list.item(0).text() == "A harbour at dawn\nwaiting · random seed · 1024×512"
    newest = panel.list.item(1)
    assert newest.text() == f"A harbour at dawn\ndone in 1.2 s · seed {100 + MAX_DONE_ROWS + 1} · 1024×512"
    pixels = newest.icon().pixmap(THUMB_SIZE).toImage()
    assert pixels.pixelColor(4, 16).red() > 200 and pixels.pixelColor(60, 16).red() < 40
    # Finished rows are not queue entries: nothing to move or remove.
    panel.list.setCurrentRow(2)
    assert panel.selected_job() is None and not panel.remove_button.isEnabled()
    assert not panel.empty_label.isVisible()


def test_the_running_row_says_so_in_the_default_column_width(qtbot) -> None:
    """#21 item 10: the status was the end of the row and the narrow column cut it off."""
    from PySide6.QtGui import QFontMetrics

    from dit360_desktop.ui.window_layout import QUEUE_WIDTH

    panel = QueuePanel()
    qtbot.addWidget(panel)
    panel.resize(QUEUE_WIDTH, 400)
    panel.show()
    qtbot.waitExposed(panel)
    request = GenerationRequest("This is a panorama image. A harbour at dawn", seed=2394116755)
    panel.set_jobs([JobInfo(1, request, JobStatus.RUNNING)])
    item = panel.list.item(0)
    width = panel.list.viewport().width() - panel.list.iconSize().width()
    metrics = QFontMetrics(panel.list.font())
    second = item.text().split("\n")[1]
    shown = metrics.elidedText(second, Qt.TextElideMode.ElideRight, width)
    assert "running" in shown


def test_a_cancelled_job_stays_as_a_cancelled_row(qtbot) -> None:
    panel = QueuePanel()
    qtbot.addWidget(panel)
    image = np.zeros((64, 128, 3), np.uint8)
    panel.add_cancelled(3, _request(9))
    for job_id in range(MAX_DONE_ROWS + 2):
        panel.add_finished(FinishedJob(10 + job_id, _request(100 + job_id), image, {"timings": {}}))
    panel.set_jobs([])
    texts = [panel.list.item(i).text() for i in range(panel.list.count())]
    assert texts.count("A harbour at dawn\n✕ cancelled · seed 9 · 1024×512") == 1  # not trimmed away
    assert len(texts) == MAX_DONE_ROWS + 1
    # Its picture is a dark tile of the thumbnails' size with a light cross in the middle, not a blank box.
    row = texts.index("A harbour at dawn\n✕ cancelled · seed 9 · 1024×512")
    tile = panel.list.item(row).icon().pixmap(THUMB_SIZE).toImage()
    assert (tile.width(), tile.height()) == (THUMB_SIZE.width(), THUMB_SIZE.height())
    assert tile.pixelColor(1, 1).name() == CANCELLED_TILE
    centre = tile.pixelColor(tile.width() // 2, tile.height() // 2)
    assert centre.lightness() > 150
