from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6.QtWidgets")

from PIL import Image
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QGuiApplication, QPixmap

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "history"))

from history_factory import make_result, populate_library

from dit360_desktop.history.export import ExportOptions
from dit360_desktop.history.library import Library
from dit360_desktop.ui.gallery.actions import reveal_command
from dit360_desktop.ui.gallery.export_dialog import ExportDialog
from dit360_desktop.ui.gallery.model import GalleryRole
from dit360_desktop.ui.gallery.panel import GalleryPanel


@pytest.fixture
def trash_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "trash"
    folder.mkdir()
    return folder


@pytest.fixture
def library(tmp_path: Path, trash_dir: Path):
    # The trash itself (send2trash) is tested in tests/history; here it is a plain folder.
    lib = Library.open(tmp_path / "library", trash=lambda path: shutil.move(path, trash_dir / path.name))
    yield lib
    lib.close()


@pytest.fixture
def entries(library: Library):
    made = [
        library.save(
            make_result("This is a panorama image. Misty forest at dawn", seed=1, width=256, height=128)
        ),
        library.save(
            make_result("This is a panorama image. Neon city at night", seed=2, width=256, height=128)
        ),
        library.save(
            make_result("This is a panorama image. Quiet beach, sunset", seed=3, width=256, height=128)
        ),
    ]
    library.set_tags(made[0].id, ["woods"])
    return [library.get(e.id) for e in made]


@pytest.fixture
def panel(qtbot, library: Library):
    widget = GalleryPanel(library)
    widget.confirm = lambda title, text: True
    widget.errors = []
    widget.report_error = lambda title, text: widget.errors.append(text)
    qtbot.addWidget(widget)
    widget.resize(600, 800)
    widget.show()
    qtbot.waitExposed(widget)
    yield widget
    widget.shutdown()


def _select_row(panel: GalleryPanel, row: int) -> None:
    index = panel.model.index(row)
    panel.view.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)


def test_lists_newest_first_and_selection_shows_details(qtbot, entries, panel: GalleryPanel) -> None:
    assert panel.model.rowCount() == 3
    assert [panel.model.entry_at(r).seed for r in range(3)] == [3, 2, 1]
    assert panel.count.text() == "3 panoramas"
    with qtbot.waitSignal(panel.entry_selected) as selected:
        _select_row(panel, 2)
    assert selected.args[0].id == entries[0].id
    assert "Misty forest" in panel.details.prompt.text()
    assert panel.details.tags.text() == "woods"
    table = panel.details.table.toPlainText()
    assert "Seed" in table and "Steps" in table and "28" in table and str(entries[0].path) in table


def test_thumbnails_load_lazily_and_a_missing_one_is_regenerated(qtbot, entries, panel: GalleryPanel) -> None:
    victim = entries[1]
    qtbot.waitUntil(lambda: len(panel.model._pixmaps) == 3, timeout=5000)
    victim.thumbnail_path.unlink()
    # Forget what the panel may have loaded already, so the next paint has to go to the file.
    panel.model.drop_thumbnail(victim.id)
    row = panel.model.row_of(victim.id)
    assert panel.model.data(panel.model.index(row), Qt.ItemDataRole.DecorationRole) is None
    qtbot.waitUntil(
        lambda: isinstance(panel.model.data(panel.model.index(row), Qt.ItemDataRole.DecorationRole), QPixmap),
        timeout=5000,
    )
    pixmap = panel.model.data(panel.model.index(row), Qt.ItemDataRole.DecorationRole)
    # The whole tile, made at its size, ready to blit.
    assert pixmap.size() == panel.delegate.style.device_size
    assert pixmap.width() == round(
        panel.delegate.sizeHint(None, panel.model.index(0)).width() * panel.devicePixelRatioF()
    )
    assert victim.thumbnail_path.is_file()


def test_only_visible_thumbnails_are_requested(qtbot, tmp_path: Path) -> None:
    folder = tmp_path / "big"
    populate_library(folder, 600)
    with Library.open(folder) as lib:
        widget = GalleryPanel(lib)
        qtbot.addWidget(widget)
        widget.resize(600, 700)
        widget.show()
        qtbot.waitExposed(widget)
        qtbot.waitUntil(lambda: len(widget.model._pixmaps) > 0, timeout=5000)
        widget.model.loader.wait_idle()
        qtbot.wait(50)
        # A page of entries and a screenful of thumbnails, not 600 of each.
        assert 0 < len(widget.model._pixmaps) < 60
        assert len(widget.model._entries) <= 2 * 120
        widget.view.scrollToBottom()
        qtbot.waitUntil(lambda: widget.model.row_of(lib.ids()[-1]) in _painted_rows(widget), timeout=5000)
        widget.shutdown()


def _painted_rows(widget: GalleryPanel) -> set[int]:
    rows = set()
    for entry_id in list(widget.model._pixmaps):
        row = widget.model.row_of(entry_id)
        if row is not None:
            rows.add(row)
    return rows


def test_search_favourites_and_order(qtbot, library: Library, entries, panel: GalleryPanel) -> None:
    panel.search.setText("nig")
    qtbot.waitUntil(lambda: panel.model.rowCount() == 1, timeout=2000)
    assert panel.model.entry_at(0).seed == 2
    assert panel.count.text() == "1 of 3 panoramas"
    panel.search.setText("woods")
    qtbot.waitUntil(lambda: panel.model.rowCount() == 1 and panel.model.entry_at(0).seed == 1, timeout=2000)
    panel.search.setText("zebra")
    qtbot.waitUntil(lambda: panel.model.rowCount() == 0, timeout=2000)
    assert panel.empty.isVisible() and "Nothing matches" in panel.empty.text()
    panel.search.clear()
    qtbot.waitUntil(lambda: panel.model.rowCount() == 3, timeout=2000)

    library.set_favorite(entries[2].id, True)
    panel.favorites_only.setChecked(True)
    assert [panel.model.entry_at(r).seed for r in range(panel.model.rowCount())] == [3]
    panel.favorites_only.setChecked(False)
    panel.order.setCurrentIndex(1)
    assert [panel.model.entry_at(r).seed for r in range(3)] == [1, 2, 3]


def test_reuse_says_when_a_guide_picture_saved_with_the_entry_is_gone(
    qtbot, tmp_path: Path, library: Library
) -> None:
    """Re-use points the guides at the entry's copies; when a copy was deleted, the original is used and
    the status line says so (``Entry.guide_notes``)."""
    from dit360_desktop.history.saving import save_result
    from dit360_desktop.panorama.guide_copies import guides_folder

    control = tmp_path / "depth.png"
    Image.fromarray(np.zeros((128, 256, 3), np.uint8)).save(control)
    result = make_result("This is a panorama image. A lit cave", seed=9, width=256, height=128)
    request = dataclasses.replace(result.request, control_image=str(control), control_lora=str(control))
    save_result(dataclasses.replace(result, request=request), library=library)
    (entry,) = library.get_many(library.ids())
    copy = guides_folder(entry.path) / "control.png"
    assert copy.is_file() and entry.params["control_image"] == str(copy) and not entry.guide_notes
    copy.unlink()
    widget = GalleryPanel(library)
    qtbot.addWidget(widget)
    messages: list[str] = []
    widget.status_message.connect(messages.append)
    _select_row(widget, 0)
    with qtbot.waitSignal(widget.reuse_parameters_requested) as reuse:
        widget.act_reuse.trigger()
    assert reuse.args[0]["control_image"] == str(control)
    assert len(messages) == 1 and "control image" in messages[0] and str(control) in messages[0]
    widget.shutdown()


def test_reuse_init_variations_and_copy(qtbot, entries, panel: GalleryPanel) -> None:
    _select_row(panel, 0)
    entry = entries[2]
    with qtbot.waitSignal(panel.reuse_parameters_requested) as reuse:
        panel.act_reuse.trigger()
    assert reuse.args[0] == entry.params and reuse.args[0]["seed"] == 3
    with qtbot.waitSignal(panel.reuse_as_init_requested) as init:
        panel.act_init.trigger()
    assert init.args[0] == str(entry.path)
    with qtbot.waitSignal(panel.variations_requested) as variations:
        panel.act_variations.trigger()
    assert variations.args[0]["prompt"] == entry.prompt and variations.args[0]["seed"] is None
    panel.act_copy.trigger()
    assert QGuiApplication.clipboard().text() == entry.prompt


def test_favourite_and_tags_are_saved(qtbot, library: Library, entries, panel: GalleryPanel) -> None:
    _select_row(panel, 1)
    panel.act_favorite.trigger()
    assert library.get(entries[1].id).favorite is True
    assert panel.model.entry_at(1).favorite is True and panel.act_favorite.isChecked()
    panel.details.tags.setText("night, neon ,  city")
    panel.details.tags.editingFinished.emit()
    assert library.get(entries[1].id).tags == ("night", "neon", "city")
    panel.favorites_only.setChecked(True)
    _select_row(panel, 0)
    panel.act_favorite.trigger()
    assert panel.model.rowCount() == 0 and library.get(entries[1].id).favorite is False


def test_delete_moves_to_trash_and_selects_the_next(
    qtbot, library: Library, entries, panel: GalleryPanel, trash_dir: Path
) -> None:
    _select_row(panel, 0)
    panel.act_delete.trigger()
    assert (trash_dir / entries[2].path.name).is_file() and not entries[2].path.exists()
    assert library.count() == 2 and panel.model.rowCount() == 2
    assert panel.current_entry().id == entries[1].id

    panel.confirm = lambda title, text: False
    panel.act_delete.trigger()
    assert library.count() == 2


def test_new_results_appear_at_once(
    qtbot, tmp_path: Path, library: Library, entries, panel: GalleryPanel
) -> None:
    # The generation worker saves through its own Library instance, then hands the entry over.
    with Library.open(library.root) as worker_library:
        fresh = worker_library.save(make_result("This is a panorama image. Volcano crater", seed=9))
        panel.add_entry(fresh)
        assert panel.model.rowCount() == 4 and panel.model.entry_at(0).id == fresh.id
        assert panel.count.text() == "4 panoramas"
        panel.favorites_only.setChecked(True)
        hidden = worker_library.save(make_result("This is a panorama image. Hidden by the filter", seed=10))
        panel.add_entry(hidden)
        assert panel.model.rowCount() == 0


def test_drag_out_carries_the_files(entries, panel: GalleryPanel) -> None:
    mime = panel.model.mimeData([panel.model.index(0), panel.model.index(1)])
    assert [Path(url.toLocalFile()) for url in mime.urls()] == [entries[2].path, entries[1].path]
    assert panel.model.flags(panel.model.index(0)) & Qt.ItemFlag.ItemIsDragEnabled


def test_missing_file_disables_file_actions(qtbot, tmp_path: Path, library: Library, entries) -> None:
    entries[1].path.unlink()
    with Library.open(library.root) as reopened:
        widget = GalleryPanel(reopened)
        qtbot.addWidget(widget)
        assert "missing" in widget.notice.text()
        row = widget.model.row_of(entries[1].id)
        _select_row(widget, row)
        assert widget.current_entry().missing
        assert not widget.act_init.isEnabled() and not widget.act_export.isEnabled()
        assert widget.act_reuse.isEnabled() and widget.act_delete.isEnabled()
        widget.shutdown()


def test_export_runs_in_the_background(qtbot, tmp_path: Path, entries, panel: GalleryPanel) -> None:
    out = tmp_path / "exports" / "cube"
    panel.choose_export = lambda entry, fmt: (out, ExportOptions(fmt, face_size=32))
    _select_row(panel, 0)
    with qtbot.waitSignal(panel.status_message, timeout=10000, check_params_cb=lambda m: "Exported" in m):
        panel.export("cubemap")
    assert sorted(p.name for p in out.iterdir()) == [
        "nx.png",
        "ny.png",
        "nz.png",
        "px.png",
        "py.png",
        "pz.png",
    ]


def test_export_dialog_builds_options(qtbot, entries) -> None:
    dialog = ExportDialog(entries[0], initial_format="perspective", folder=Path("/exports"))
    qtbot.addWidget(dialog)
    dialog.yaw.setValue(45)
    dialog.pitch.setValue(-10)
    dialog.fov.setValue(75)
    dialog.view_width.setValue(800)
    dialog.view_height.setValue(600)
    options = dialog.options()
    assert (options.format, options.yaw, options.pitch, options.fov, options.size) == (
        "perspective", 45, -10, 75, (800, 600),
    )  # fmt: skip
    assert dialog.output_path().parent == Path("/exports")
    dialog.format.setCurrentIndex(2)
    assert dialog.options().format == "cubemap" and dialog.options().face_size == 64
    assert dialog.output_path().name.endswith("-cubemap")


def test_rescan_runs_in_the_background(qtbot, library: Library, entries, panel: GalleryPanel) -> None:
    extra = library.root / "images" / "2020-01" / "copied-in.png"
    extra.parent.mkdir(parents=True)
    result = make_result("This is a panorama image. Copied in by hand", seed=44)
    from dit360_desktop.panorama.imageio import save_png

    save_png(result.image, extra, result.file_metadata())
    with qtbot.waitSignal(panel.status_message, timeout=10000, check_params_cb=lambda m: "Rescan done" in m):
        panel.act_rescan.trigger()
    assert panel.model.rowCount() == 4


def test_empty_library_says_so(qtbot, panel: GalleryPanel) -> None:
    assert panel.model.rowCount() == 0
    assert panel.empty.isVisible() and "No panoramas yet" in panel.empty.text()


def test_reveal_command_per_platform() -> None:
    path = Path("/pics/a.png")
    assert reveal_command(path, "win32") == ("explorer", [f"/select,{path}"])
    assert reveal_command(path, "darwin") == ("open", ["-R", str(path)])
    assert reveal_command(path, "linux") is None


def test_tiles_fill_the_width(qtbot, entries, panel: GalleryPanel) -> None:
    for width in (420, 700, 1000):
        panel.resize(width, 800)
        qtbot.wait(20)
        tile = panel.delegate.sizeHint(None, panel.model.index(0)).width()
        spacing = panel.view.spacing()
        columns = (panel.view.viewport().width() - 2 * spacing) // (tile + 2 * spacing)
        unused = panel.view.viewport().width() - columns * (tile + 2 * spacing)
        assert columns >= 1 and unused < tile // 2, (width, tile, columns, unused)
    assert panel.model.data(panel.model.index(0), GalleryRole.ENTRY_ID) == entries[2].id
