"""The history inspector (issue 21.6): the selected entry's picture, lineage, repair scores and parameters,
all on screen in the window at 1280×720 without dragging a splitter; lineage links select the entry."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("PySide6.QtWidgets")

from PySide6.QtCore import QRect
from PySide6.QtWidgets import QScrollArea

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "history"))

from history_factory import make_result

from dit360_desktop.history.library import Library
from dit360_desktop.settings import Settings
from tests.ui.gallery.text_fit import scrolls_into_view

REPAIR = {
    "seam_before": 0.8912,
    "seam_after": 0.3121,
    "poles_before": [0.89, 0.86],
    "poles_after": [0.81, 0.9],
    "applied": ["seam"],
    "notes": ["The bottom pole repair would have raised its score; not applied."],
}


def _child(library: Library, parent, mask: Path, prompt: str, seed: int, extra: dict):
    base = make_result(prompt, seed=seed)
    request = base.request.replace(init_image=str(parent.path), mask_image=str(mask), edit_method="blend")
    return library.save(dataclasses.replace(base, request=request, metadata={**base.metadata, **extra}))


@pytest.fixture
def lineage(tmp_path: Path):
    mask = tmp_path / "mask.png"
    Image.fromarray(np.full((32, 64), 255, np.uint8)).save(mask)
    folder = tmp_path / "library"
    with Library.open(folder, trash=lambda p: p.unlink()) as library:
        parent = library.save(make_result("This is a panorama image. A harbour at dawn", seed=1))
        edit = _child(library, parent, mask, "This is a panorama image. A harbour with a boat", 2, {})
        repair = _child(
            library, edit, mask, "This is a panorama image. A harbour with a boat", 2, {"repair": REPAIR}
        )
    return folder, parent.id, edit.id, repair.id


def _on_screen(widget, window) -> bool:
    """Entirely inside the window and not clipped by its parents."""
    if not widget.isVisible() or widget.visibleRegion().isEmpty():
        return False
    top_left = widget.mapTo(window, widget.rect().topLeft())
    inside = QRect(top_left, widget.size())
    return window.rect().contains(inside) and widget.visibleRegion().boundingRect().size() == widget.size()


def test_inspector_shows_picture_lineage_scores_and_parameters_at_1280x720(qtbot, lineage, tmp_path) -> None:
    from dit360_desktop.ui.main_window import MainWindow

    folder, parent_id, edit_id, repair_id = lineage
    window = MainWindow(Settings(library_dir=str(folder)), start_worker=False)
    window.confirm_stop = lambda: True
    qtbot.addWidget(window)
    window.resize(1280, 720)
    with qtbot.waitSignal(window.first_exposed, timeout=20_000):
        window.show()
    qtbot.waitUntil(lambda: window.gallery is not None, timeout=20_000)
    gallery = window.gallery
    assert gallery.select_entry(edit_id)
    qtbot.wait(100)
    details = gallery.details
    assert details.entry.id == edit_id

    # The picture, the lineage and the parameter table are all on screen at once.
    assert not details.picture.pixmap().isNull()
    assert details.picture.height() >= 80
    for widget in (details.picture, details.lineage, details.table):
        assert _on_screen(widget, window), widget.objectName()
    # Three rows of parameters at least, the rest a scroll away.
    assert details.table.viewport().height() >= 3 * details.table.fontMetrics().lineSpacing()
    lineage_text = details.lineage.text()
    assert f"entry:{parent_id}" in lineage_text and f"entry:{repair_id}" in lineage_text

    # A child link selects the child; its repair scores are shown before and after.
    details.lineage.linkActivated.emit(f"entry:{repair_id}")
    assert gallery.current_entry().id == repair_id
    scores = details.scores.text()
    assert "0.89" in scores and "0.31" in scores and "Applied: seam" in scores and "not applied" in scores
    # The picture column scrolls in the strip: the repair note at its foot can be brought into view whole.
    column = details.findChild(QScrollArea, "GallerySummary")
    qtbot.wait(50)
    assert _on_screen(column, window)
    for label in (details.lineage, details.scores):
        assert scrolls_into_view(label, column), (label.objectName(), label.size(), column.viewport().size())

    # The parent link goes back up, even through a search that hides the parent.
    gallery.search.setText("boat")
    gallery._apply_query()
    assert gallery.model.row_of(parent_id) is None
    details.lineage.linkActivated.emit(f"entry:{parent_id}")
    assert gallery.current_entry().id == parent_id
    assert "Generated from text" in details.lineage.text()
    assert f"entry:{edit_id}" in details.lineage.text()

    gallery.model.loader.wait_idle()
    qtbot.wait(200)
    shot = tmp_path / "inspector-1280x720.png"
    window.grab().save(str(shot))
    print(f"screenshot: {shot}")
    window.close()
