"""Gallery details from the first-hour review: plurals, text-to-image details, labelled menus, disabled
actions with nothing selected, side-by-side layout in the strip under the viewer."""

from __future__ import annotations

from pathlib import Path

import pytest
from history_factory import make_result
from PySide6.QtCore import QItemSelectionModel, Qt

from dit360_desktop.history.library import Library
from dit360_desktop.ui.gallery.details import details_html
from dit360_desktop.ui.gallery.panel import GalleryPanel, panoramas


@pytest.fixture
def library(tmp_path: Path):
    lib = Library.open(tmp_path / "library")
    yield lib
    lib.close()


@pytest.fixture
def panel(qtbot, library: Library):
    widget = GalleryPanel(library)
    qtbot.addWidget(widget)
    widget.resize(900, 260)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    widget.shutdown()


def test_plural(qtbot, library: Library, panel: GalleryPanel) -> None:
    assert [panoramas(n) for n in (0, 1, 2, 1200)] == [
        "0 panoramas",
        "1 panorama",
        "2 panoramas",
        "1,200 panoramas",
    ]
    panel.add_entry(library.save(make_result(seed=5)))
    qtbot.waitUntil(lambda: panel.count.text() == "1 panorama")


def test_text_to_image_details_leave_out_img2img_fields(library: Library) -> None:
    entry = library.save(make_result(seed=5))
    assert entry.params.get("init_image") is None and "strength" in entry.params
    table = details_html(entry)
    assert "Strength" not in table and "Init image" not in table and "Fit" not in table
    assert "Seed" in table and "Steps" in table


def test_actions_disabled_until_something_is_selected(qtbot, library: Library, panel: GalleryPanel) -> None:
    panel.add_entry(library.save(make_result(seed=5)))
    buttons = panel.details.buttons
    assert buttons and not any(b.isEnabled() for b in buttons.values())
    panel.view.selectionModel().setCurrentIndex(
        panel.model.index(0), QItemSelectionModel.SelectionFlag.ClearAndSelect
    )
    assert all(b.isEnabled() for b in buttons.values())
    menu = panel.context_menu(on_entry=True)
    labels = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert "Re-use parameters" in labels and "Move to trash" in labels and all(labels)
    empty = [a.text() for a in panel.context_menu(on_entry=False).actions()]
    assert empty == ["Rescan library folder", "Open library folder"]
    assert panel.act_reuse.icon().cacheKey() != panel.act_rescan.icon().cacheKey()


def test_side_by_side_in_a_strip_shows_several_columns(qtbot, library: Library, panel: GalleryPanel) -> None:
    for seed in range(6):
        panel.add_entry(library.save(make_result(seed=seed)))
    panel.set_orientation(Qt.Orientation.Horizontal)
    qtbot.wait(50)
    _, details_width = panel.splitter.sizes()
    # The inspector keeps a readable width beside the tiles (tests/ui/gallery/test_inspector.py).
    assert details_width >= 400
    columns = panel.view.viewport().width() // panel.delegate.sizeHint(None, panel.model.index(0)).width()
    assert columns >= 2
