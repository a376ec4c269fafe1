"""What keeps a scrolling frame cheap (issue 21.14): finished cards blitted, one loader start per burst.

The figures are in tests/benchmarks/gallery_10k.py; these tests check the mechanisms, without timings.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6.QtWidgets")

from PySide6.QtCore import QItemSelectionModel, QPoint, QRect
from PySide6.QtGui import QImage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "history"))

from history_factory import populate_library

from dit360_desktop.history.library import Library
from dit360_desktop.ui.gallery.panel import GalleryPanel


@pytest.fixture
def panel(qtbot, tmp_path: Path):
    folder = tmp_path / "library"
    populate_library(folder, 40)
    library = Library.open(folder)
    widget = GalleryPanel(library)
    qtbot.addWidget(widget)
    widget.resize(700, 900)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    widget.shutdown()
    library.close()


def _loaded(panel: GalleryPanel, row: int) -> bool:
    return panel.model.thumbnail_at(row) is not None


def test_a_loaded_tile_on_screen_is_its_card_pixel_for_pixel(qtbot, panel: GalleryPanel) -> None:
    qtbot.waitUntil(lambda: _loaded(panel, 0) and _loaded(panel, 1), timeout=10000)
    qtbot.wait(50)
    rect: QRect = panel.view.visualRect(panel.model.index(1))
    card = panel.model.thumbnail_at(1).toImage().convertToFormat(QImage.Format.Format_RGB32)
    shot = panel.view.viewport().grab(rect).toImage().convertToFormat(QImage.Format.Format_RGB32)
    # The card holds the whole tile (text and corners too): what a frame paints is one blit of it.
    assert card.size() == shot.size() == rect.size() * panel.devicePixelRatioF()
    background = panel.view.viewport().grab(QRect(QPoint(0, 0), rect.size())).toImage()
    assert shot == _over(card, background, panel.model.thumbnail_at(1).toImage())
    # The text line of the card is not blank: the prompt is drawn into it.
    text_band = card.copy(0, card.height() - 20, card.width() // 2, 14)
    assert (
        len({text_band.pixel(x, y) for x in range(text_band.width()) for y in range(text_band.height())}) > 4
    )


def _over(card: QImage, background: QImage, premultiplied: QImage) -> QImage:
    """The card composed over the viewport's background, as the view's blit does."""
    from PySide6.QtGui import QPainter

    out = QImage(card.size(), QImage.Format.Format_RGB32)
    out.fill(background.pixel(0, 0))
    painter = QPainter(out)
    painter.drawImage(0, 0, premultiplied)
    painter.end()
    return out


def test_selection_draws_over_the_card_and_a_changed_entry_gets_a_new_card(
    qtbot, panel: GalleryPanel
) -> None:
    qtbot.waitUntil(lambda: _loaded(panel, 0), timeout=10000)
    entry = panel.model.entry_at(0)
    before = panel.model.stamp_at(0)
    panel.view.selectionModel().setCurrentIndex(
        panel.model.index(0), QItemSelectionModel.SelectionFlag.ClearAndSelect
    )
    panel.set_tags(["renamed"])
    # The old card stays on screen until the new one, drawn with the new tag, arrives.
    qtbot.waitUntil(lambda: panel.model.stamp_at(0) != before, timeout=10000)
    assert "renamed" in panel.model.stamp_at(0)[0][1]
    assert panel.model.entry_at(0).id == entry.id


def test_scrolling_starts_the_loader_once_not_once_per_screenful(qtbot, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    populate_library(folder, 300)
    with Library.open(folder) as library:
        widget = GalleryPanel(library)
        qtbot.addWidget(widget)
        widget.resize(700, 600)
        widget.show()
        qtbot.waitExposed(widget)
        loader = widget.model.loader
        bar = widget.view.verticalScrollBar()
        screens = 0
        while bar.value() < bar.maximum() and screens < 8:
            bar.setValue(bar.value() + widget.view.viewport().height())
            widget.view.viewport().repaint()
            # Each screenful is finished before the next, as when a person looks at it.
            qtbot.waitUntil(lambda: loader.wait_idle(10) and _visible_loaded(widget), timeout=10000)
            screens += 1
        assert screens >= 4
        # A drain waits for the next request instead of ending: QThreadPool.start (0.75 ms of UI thread
        # each) runs once per burst, not once per screenful.
        assert loader.starts <= 2
        widget.shutdown()


def _visible_loaded(widget: GalleryPanel) -> bool:
    view = widget.view
    first = view.indexAt(QPoint(10, 10)).row()
    return first >= 0 and widget.model.thumbnail_at(first) is not None
