"""The history strip at the window sizes the screenshots use (1280×720, 1440×880, 1600×900): whole tiles,
caption included, several across where the width allows; the inspector's texts readable, not clipped."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from history_factory import make_result
from PIL import Image

pytest.importorskip("PySide6.QtWidgets")

from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import QLabel, QScrollArea

from dit360_desktop.history.library import Library
from dit360_desktop.settings import Settings
from dit360_desktop.ui.gallery.details import PLACEHOLDER
from dit360_desktop.ui.gallery.panel import GalleryPanel, GalleryView
from tests.ui.gallery.text_fit import scrolls_into_view

REPAIR = {
    "seam_before": 0.8912,
    "seam_after": 0.3121,
    "poles_before": [0.89, 0.86],
    "poles_after": [0.81, 0.9],
    "applied": ["seam"],
    "notes": ["The bottom pole repair would have raised its score; not applied."],
}


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, int]:
    """Six panoramas, the newest a repair of an edit (lineage and scores in the inspector)."""
    mask = tmp_path / "mask.png"
    Image.fromarray(np.full((32, 64), 255, np.uint8)).save(mask)
    folder = tmp_path / "library"
    with Library.open(folder, trash=lambda p: p.unlink()) as library:
        for seed in range(4):
            parent = library.save(make_result(f"This is a panorama image. A lake, take {seed}", seed=seed))
        base = make_result("This is a panorama image. A harbour with a boat", seed=9)
        request = base.request.replace(init_image=str(parent.path), mask_image=str(mask), edit_method="blend")
        edit = library.save(dataclasses.replace(base, request=request))
        request = request.replace(init_image=str(edit.path))
        repair = library.save(
            dataclasses.replace(base, request=request, metadata={**base.metadata, "repair": REPAIR})
        )
    return folder, repair.id


def _whole_tiles(view: GalleryView) -> list[QRect]:
    viewport = view.viewport().rect()
    rects = [view.visualRect(view.model().index(row, 0)) for row in range(view.model().rowCount())]
    return [r for r in rects if viewport.contains(r)]


def _tiles_fit(view: GalleryView) -> None:
    """The first tile (caption included) is inside the viewport, as tall as the painted card."""
    first = view.visualRect(view.model().index(0, 0))
    card = view.itemDelegate().style.size
    assert first.height() >= card.height(), (first, card)
    assert view.viewport().rect().contains(first), (first, view.viewport().rect())


def _readable(label: QLabel) -> bool:
    """All of the label's text is inside the part of it that is on screen (not cut by its size or parents)."""
    width = label.width()
    needed = label.heightForWidth(width) if label.wordWrap() else label.sizeHint().height()
    if not label.wordWrap() and label.sizeHint().width() > width:
        return False
    visible = label.visibleRegion().boundingRect()
    return label.isVisible() and needed <= label.height() and visible.contains(QRect(0, 0, width, needed))


def _main_window(qtbot, folder: Path, size: tuple[int, int]):
    from dit360_desktop.ui.main_window import MainWindow

    window = MainWindow(Settings(library_dir=str(folder)), start_worker=False)
    window.confirm_stop = lambda: True
    qtbot.addWidget(window)
    window.resize(*size)
    with qtbot.waitSignal(window.first_exposed, timeout=20_000):
        window.show()
    qtbot.waitUntil(lambda: window.gallery is not None, timeout=20_000)
    qtbot.waitUntil(lambda: window.gallery.model.rowCount() == 6, timeout=20_000)
    qtbot.wait(150)
    return window


@pytest.mark.parametrize("size", [(1280, 720), (1440, 880), (1600, 900)])
def test_strip_shows_whole_tiles_and_readable_inspector(qtbot, folder, size) -> None:
    path, repair_id = folder
    window = _main_window(qtbot, path, size)
    gallery = window.gallery
    view = gallery.view
    try:
        # Nothing selected: the placeholder is all there, not "…its parame".
        assert gallery.details.entry is None
        assert PLACEHOLDER in gallery.details.prompt.text()
        assert _readable(gallery.details.prompt), (gallery.details.prompt.size(), size)

        _tiles_fit(view)
        tile = view.visualRect(view.model().index(0, 0)).width() + 2 * view.spacing()
        whole = _whole_tiles(view)
        # As many whole tiles as the tile list has room for across (two at least where it is that wide).
        assert len(whole) >= min(2, max(1, (view.viewport().width() - 2 * view.spacing()) // tile)), whole
        if size[0] >= 1440:
            assert len(whole) >= 2, (whole, view.viewport().size())

        # The repair's picture, lineage and scores, its note included, readable (scrolled to where needed).
        assert gallery.select_entry(repair_id)
        qtbot.wait(100)
        details = gallery.details
        scroll = details.findChild(QScrollArea, "GallerySummary")
        assert scroll is not None
        assert "not applied" in details.scores.text()
        for label in (details.lineage, details.scores):
            assert scrolls_into_view(label, scroll), (
                label.objectName(),
                label.size(),
                scroll.viewport().size(),
            )
        assert _readable(details.prompt)
    finally:
        window.close()


@pytest.mark.parametrize("size", [(340, 440), (340, 560), (700, 440), (900, 240)])
def test_tiles_fit_a_docked_or_floating_panel(qtbot, tmp_path: Path, size) -> None:
    """Stacked (a side column or a floating window, tiles above the inspector) and side by side (a strip)."""
    with Library.open(tmp_path / "library") as library:
        for seed in range(6):
            library.save(make_result(seed=seed))
        panel = GalleryPanel(library)
        qtbot.addWidget(panel)
        panel.resize(*size)
        panel.show()
        qtbot.waitExposed(panel)
        orientation = Qt.Orientation.Horizontal if size[0] > 2 * size[1] else Qt.Orientation.Vertical
        panel.set_orientation(orientation)
        qtbot.wait(150)
        try:
            _tiles_fit(panel.view)
            if panel.view.viewport().width() >= 2 * 160 + 40:
                assert len(_whole_tiles(panel.view)) >= 2
        finally:
            panel.shutdown()
