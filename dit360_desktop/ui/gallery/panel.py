"""The history gallery: every saved panorama, searchable, reusable and exportable.

``GalleryPanel(library)`` is a plain QWidget (the main window docks it). It talks to the library only
through its public methods; slow work (thumbnails, exports, rescans) runs as ``BackgroundOp``s, whose
callbacks come back on the UI thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    Qt,
    QThreadPool,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QMessageBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.history.entry import Entry, RescanReport
from dit360_desktop.history.export import ExportOptions, export_entry
from dit360_desktop.history.library import Library
from dit360_desktop.panorama.errors import DiT360Error
from dit360_desktop.ui.gallery import actions
from dit360_desktop.ui.gallery.delegate import TileDelegate
from dit360_desktop.ui.gallery.details import DetailsPane
from dit360_desktop.ui.gallery.export_dialog import ExportDialog, offered_formats, run_export_dialog
from dit360_desktop.ui.gallery.icons import gallery_icon
from dit360_desktop.ui.gallery.model import GalleryModel
from dit360_desktop.ui.gallery.tile import PADDING, TileStyle, tile_size
from dit360_desktop.ui.widgets.background import BackgroundOp
from dit360_desktop.ui.widgets.icons import icon

log = logging.getLogger(__name__)

THUMB_WIDTH = 224
MIN_THUMB_WIDTH, MAX_THUMB_WIDTH = 150, 320
# Scoped to this panel's own objects so it sits on top of the app theme (resources/style.qss) without
# restyling anything else; standalone (tests, screenshots) it also gives the panel its dark background.
# The view must have square corners: a border-radius makes Qt clip every tile draw to a rounded path,
# which made each frame about 4× slower.
PANEL_STYLE = """
#GalleryPanel { background: #1c2028; }
#GalleryView { background: #171a20; border: 1px solid #2a303b; border-radius: 0px; }
#GalleryDetails { background: #1c2028; }
#GallerySummary, #GallerySummaryColumn { background: transparent; }
#GalleryDetails QToolButton { padding: 3px; }
#GalleryPrompt { color: #e8ecf2; font-size: 10.5pt; }
#GalleryTable { background: #171a20; border: 1px solid #2a303b; border-radius: 6px; padding: 4px; }
#GalleryCount { color: #8a93a3; }
#GalleryNotice { background: #3a3020; color: #ffd9a0; border: 1px solid #6b5326; border-radius: 5px;
                 padding: 6px; }
#GalleryEmpty { color: #8a93a3; padding: 24px; font-size: 11pt; }
#GalleryMore::menu-indicator { image: none; width: 0px; }
"""
SEARCH_DELAY_MS = 250
# Beside the tiles in the strip, the inspector's width when there is room (picture, text and table).
INSPECTOR_WIDTH = 480
ORDERS = (("Newest first", "newest"), ("Oldest first", "oldest"))


def panoramas(count: int) -> str:
    return f"{count:,} panorama" + ("" if count == 1 else "s")


class GalleryView(QListView):
    """Icon mode with uniform tiles: Qt lays out 10,000 of them without asking each one its size."""

    tiles_resized = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(400)
        self.setSpacing(4)
        self.setWordWrap(False)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setMouseTracking(True)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setObjectName("GalleryView")
        # The tiles follow the width (fit_tiles): never a sideways scroll bar, and room for one column.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(MIN_THUMB_WIDTH + 2 * PADDING + 4 * self.spacing() + 16)

    def fit_tiles(self, delegate: TileDelegate) -> None:
        """Size the tiles so whole columns fill the width (no ragged gap on the right) and a whole tile,
        caption included, fits the height: a short strip under the viewer gets smaller tiles, several across,
        instead of one wide tile whose caption and neighbours fall below the fold."""
        gap = 2 * self.spacing()
        available = self.viewport().width() - gap
        # The tallest picture whose card (2:1 picture, padding and two text lines) fits the viewport's height.
        text = tile_size(0, delegate.style.font).height()
        tallest = 2 * (self.viewport().height() - gap - text)
        widest = max(64, min(MAX_THUMB_WIDTH, tallest))
        # Enough columns that none is wider than that, and no fewer than the width has room for.
        columns = max(
            available // (MIN_THUMB_WIDTH + 2 * PADDING + gap),
            -(-available // (widest + 2 * PADDING + gap)),
            1,
        )
        thumb = (available // columns) - 2 * PADDING - gap
        thumb = max(64, min(widest, thumb))
        if thumb != delegate.thumb_width:
            delegate.set_style(TileStyle.for_font(thumb, delegate.style.ratio, delegate.style.font))
            # Uniform item sizes cache the first item's size; a new layout pass re-reads it.
            self.scheduleDelayedItemsLayout()
            self.tiles_resized.emit(thumb)

    def resizeEvent(self, event) -> None:
        delegate = self.itemDelegate()
        if isinstance(delegate, TileDelegate):
            self.fit_tiles(delegate)
        super().resizeEvent(event)


class GalleryPanel(QWidget):
    entry_selected = Signal(object)
    reuse_parameters_requested = Signal(object)
    reuse_as_init_requested = Signal(str)
    variations_requested = Signal(object)
    # A short status line for the main window (export written, rescan done...).
    status_message = Signal(str)

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("GalleryPanel")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(PANEL_STYLE)
        self.library = library
        self._jobs = QThreadPool(self)
        self._jobs.setMaxThreadCount(1)
        # Replaceable so tests (and a future "don't ask again" setting) can answer for the user.
        self.confirm: Callable[[str, str], bool] = self._ask
        self.report_error: Callable[[str, str], None] = self._warn
        self.choose_export: Callable[[Entry, str], tuple[Path, ExportOptions] | None] = self._export_dialog
        # Other features' actions on the current entry, in its context menu (editing's "Edit").
        self._entry_actions: list[QAction] = []

        self.view = GalleryView(self)
        style = self._tile_style(THUMB_WIDTH)
        self.delegate = TileDelegate(style, self.view)
        self.model = GalleryModel(library, style, self)
        self.view.setItemDelegate(self.delegate)
        self.view.setModel(self.model)

        self._build_actions()
        self.details = DetailsPane(self._detail_actions(), self, children_of=library.children)
        self._shares, self._share_pending = (3, 2), False
        self._build_layout()
        self._connect()
        self.model.set_query()
        self._show_notices(library.notices)

    # Public slots for the main window

    def add_entry(self, entry: Entry) -> None:
        """A result just saved (by this or another Library instance): show it now."""
        self.model.add_entry(entry)

    def refresh(self) -> None:
        current = self.current_entry()
        self.model.reload()
        if current is not None:
            self.select_entry(current.id)

    # Selection

    def current_entry(self) -> Entry | None:
        index = self.view.currentIndex()
        return self.model.entry_at(index.row()) if index.isValid() else None

    def selected_entries(self) -> list[Entry]:
        rows = sorted(i.row() for i in self.view.selectionModel().selectedIndexes())
        entries = [self.model.entry_at(r) for r in rows]
        return [e for e in entries if e is not None]

    def select_entry(self, entry_id: int) -> bool:
        row = self.model.row_of(entry_id)
        if row is None:
            return False
        index = self.model.index(row)
        self.view.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.view.scrollTo(index)
        return True

    # Actions

    def reuse_parameters(self) -> None:
        entry = self.current_entry()
        if entry is not None:
            self.reuse_parameters_requested.emit(actions.reuse_fields(entry))
            if entry.guide_notes:  # a guide picture saved with it is gone: say which original is used
                self.status_message.emit(" ".join(entry.guide_notes))

    def reuse_as_init(self) -> None:
        entry = self.current_entry()
        if entry is not None and not entry.missing:
            self.reuse_as_init_requested.emit(str(entry.path))

    def request_variations(self) -> None:
        entry = self.current_entry()
        if entry is not None:
            self.variations_requested.emit(actions.variation_fields(entry))

    def copy_prompt(self) -> None:
        entry = self.current_entry()
        if entry is not None:
            actions.copy_prompt(entry)
            self.status_message.emit("Prompt copied.")

    def toggle_favorite(self) -> None:
        entries = self.selected_entries()
        if not entries:
            return
        make_favorite = not all(e.favorite for e in entries)
        for entry in entries:
            self._apply(self.library.set_favorite, entry.id, make_favorite)
        self._sync_current()

    def set_tags(self, tags: list[str]) -> None:
        entry = self.current_entry()
        if entry is not None:
            self._apply(self.library.set_tags, entry.id, tags)
            self._sync_current()

    def delete_selected(self) -> None:
        entries = self.selected_entries()
        if not entries:
            return
        what = "this panorama" if len(entries) == 1 else f"these {len(entries)} panoramas"
        if not self.confirm("Move to trash", f"Move {what} to the trash? You can restore files from there."):
            return
        next_row = min(self.model.row_of(e.id) or 0 for e in entries)
        deleted: list[int] = []
        for entry in entries:
            try:
                self.library.delete(entry.id)
            except DiT360Error as e:
                self.report_error("Could not delete", str(e))
                break
            deleted.append(entry.id)
        self.model.remove_ids(deleted)
        if self.model.rowCount():
            index = self.model.index(min(next_row, self.model.rowCount() - 1))
            self.view.selectionModel().setCurrentIndex(
                index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            )
        else:
            self.details.show_entry(None)

    def reveal(self) -> None:
        entry = self.current_entry()
        if entry is not None:
            actions.reveal_in_file_manager(entry.path if not entry.missing else entry.path.parent)

    def export(self, fmt: str = "jpeg-gpano") -> None:
        entry = self.current_entry()
        if entry is None:
            return
        if entry.missing:
            self.report_error("Cannot export", f"The image file {entry.path} is missing.")
            return
        chosen = self.choose_export(entry, fmt)
        if chosen is not None:
            self.start_export(entry, *chosen)

    def start_export(self, entry: Entry, out: Path, options: ExportOptions) -> BackgroundOp:
        # The projections of a 2048×1024 panorama take a moment: off the UI thread.
        op = BackgroundOp(
            self, lambda _ctx: [str(p) for p in export_entry(entry, out, options)], self._exported
        )
        op.failure(lambda e: self.report_error("Export failed", str(e))).run_in_background(self._jobs)
        self.status_message.emit(f"Exporting to {out}…")
        return op

    def rescan(self) -> None:
        op = BackgroundOp(self, lambda _ctx: self.library.rescan(), self._rescanned)
        op.failure(lambda e: self.report_error("Rescan failed", str(e))).run_in_background(self._jobs)
        self.status_message.emit("Rescanning the library…")

    def set_orientation(self, orientation: Qt.Orientation) -> None:
        """Tiles above the inspector (a side column) or beside it (a strip under the viewer)."""
        self.splitter.setOrientation(orientation)
        self.details.set_orientation(orientation)
        # Side by side the inspector gets its picture column and a readable table, the tiles the rest
        # (_apply_shares); a wider window widens the tiles. Stacked, both grow 3:2.
        horizontal = orientation == Qt.Orientation.Horizontal
        self._shares = (1, 0) if horizontal else (3, 2)
        for index, share in enumerate(self._shares):
            self.splitter.setStretchFactor(index, share)
        self._share_pending = True
        self._apply_shares()
        self.view.fit_tiles(self.delegate)

    def go_to_entry(self, entry_id: int) -> bool:
        """Select ``entry_id`` (a lineage link), clearing a search or filter that hides it."""
        if self.select_entry(entry_id):
            return True
        try:
            self.library.get(entry_id)
        except DiT360Error:
            self.status_message.emit(f"Entry #{entry_id} is no longer in the library.")
            return False
        for widget in (self.search, self.favorites_only):
            widget.blockSignals(True)
        self.search.clear()
        self.favorites_only.setChecked(False)
        for widget in (self.search, self.favorites_only):
            widget.blockSignals(False)
        self._apply_query()
        return self.select_entry(entry_id)

    def add_entry_action(self, action: QAction) -> None:
        """Offer ``action`` in the context menu; it acts on ``current_entry()``."""
        self._entry_actions.append(action)

    def shutdown(self) -> None:
        """Stop background work before the window (and the library) goes away."""
        self._search_timer.stop()
        self.model.loader.shutdown()
        self._jobs.waitForDone(30000)

    # Building

    def _action(
        self, name: str, text: str, icon_, slot, shortcut: QKeySequence | str | None = None
    ) -> QAction:
        action = QAction(icon_, text, self)
        action.setObjectName(name)
        action.setToolTip(text if shortcut is None else f"{text} ({QKeySequence(shortcut).toString()})")
        action.triggered.connect(slot)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.view.addAction(action)
        return action

    def _build_actions(self) -> None:
        self.act_reuse = self._action(
            "reuse", "Re-use parameters", icon("reuse"), self.reuse_parameters, "Ctrl+R"
        )
        self.act_init = self._action("init", "Use as init image (img2img)", icon("image"), self.reuse_as_init)
        self.act_variations = self._action(
            "variations", "Variations (same prompt, new seeds)", icon("variations"), self.request_variations
        )
        self.act_copy = self._action(
            "copy", "Copy prompt", gallery_icon("copy"), self.copy_prompt, QKeySequence.StandardKey.Copy
        )
        self.act_favorite = self._action(
            "favorite", "Favourite", gallery_icon("favorite"), self.toggle_favorite, "F"
        )
        self.act_favorite.setCheckable(True)
        self.act_tags = self._action("tags", "Edit tags", gallery_icon("tag"), self._focus_tags, "T")
        self.act_reveal = self._action("reveal", "Show in file manager", icon("folder"), self.reveal)
        self.act_export = self._action(
            "export", "Export…", gallery_icon("export"), lambda: self.export(), "Ctrl+E"
        )
        self.act_delete = self._action(
            "delete",
            "Move to trash",
            gallery_icon("trash"),
            self.delete_selected,
            QKeySequence.StandardKey.Delete,
        )
        self.act_rescan = self._action("rescan", "Rescan library folder", icon("reset"), self.rescan)
        self.export_menu = QMenu("Export", self)
        self.export_menu.setIcon(gallery_icon("export"))
        for key, label in offered_formats().items():
            action = self.export_menu.addAction(label)
            action.triggered.connect(lambda _=False, k=key: self.export(k))

    def _detail_actions(self) -> list[QAction]:
        return [
            self.act_reuse, self.act_init, self.act_variations, self.act_copy, self.act_favorite,
            self.act_reveal, self.act_export, self.act_delete,
        ]  # fmt: skip

    def _build_layout(self) -> None:
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search prompts and tags…")
        self.search.setClearButtonEnabled(True)
        self.favorites_only = QToolButton()
        self.favorites_only.setCheckable(True)
        self.favorites_only.setIcon(gallery_icon("favorite"))
        self.favorites_only.setToolTip("Show favourites only")
        self.order = QComboBox()
        for label, key in ORDERS:
            self.order.addItem(label, key)
        more = QToolButton()
        more.setObjectName("GalleryMore")
        more.setIcon(gallery_icon("more"))
        more.setToolTip("Library")
        more.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        library_menu = QMenu(more)
        library_menu.addAction(self.act_rescan)
        self.act_open_folder = library_menu.addAction(icon("folder"), "Open library folder")
        self.act_open_folder.triggered.connect(lambda: actions.reveal_in_file_manager(self.library.db_path))
        more.setMenu(library_menu)

        header = QHBoxLayout()
        header.setSpacing(4)
        header.addWidget(self.search, 1)
        header.addWidget(self.favorites_only)
        header.addWidget(self.order)
        header.addWidget(more)

        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setObjectName("GalleryNotice")
        self.notice.hide()

        self.empty = QLabel(self.view.viewport())
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setObjectName("GalleryEmpty")

        self.count = QLabel()
        self.count.setObjectName("GalleryCount")

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addLayout(header)
        layout.addWidget(self.notice)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.count)

    def _tile_style(self, thumb_width: int) -> TileStyle:
        """Cards are made at the tile's size in device pixels: sharp on HiDPI, a 1:1 blit to paint."""
        return TileStyle.for_font(thumb_width, max(1.0, self.devicePixelRatioF()), self.view.font())

    def _tiles_resized(self, thumb_width: int) -> None:
        # The delegate and the loader share one style: a card from another style is redrawn.
        self.model.loader.set_style(self.delegate.style)

    def _connect(self) -> None:
        self.view.tiles_resized.connect(self._tiles_resized)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._apply_query)
        self.search.textChanged.connect(self._search_timer.start)
        self.search.returnPressed.connect(self._apply_query)
        self.favorites_only.toggled.connect(self._apply_query)
        self.order.currentIndexChanged.connect(self._apply_query)
        self.model.count_changed.connect(self._count_changed)
        self.model.modelReset.connect(self._selection_changed)
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.doubleClicked.connect(self._double_clicked)
        self.details.tags_edited.connect(self.set_tags)
        self.details.entry_link_activated.connect(self.go_to_entry)
        self._selection_changed()

    # Internals

    def _apply_query(self) -> None:
        self._search_timer.stop()
        current = self.current_entry()
        self.model.set_query(
            self.search.text(), self.favorites_only.isChecked(), str(self.order.currentData())
        )
        if current is not None and self.select_entry(current.id):
            return
        self.details.show_entry(None)

    def _count_changed(self, count: int) -> None:
        total = self.library.count()
        filtered = self.search.text().strip() or self.favorites_only.isChecked()
        self.count.setText(f"{count:,} of {panoramas(total)}" if filtered else panoramas(total))
        if count:
            self.empty.hide()
            return
        if filtered:
            self.empty.setText("Nothing matches this search.")
        else:
            self.empty.setText("No panoramas yet.\nEvery panorama you generate is kept here.")
        self.empty.resize(self.view.viewport().size())
        self.empty.show()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.empty.resize(self.view.viewport().size())
        self._apply_shares()

    def _apply_shares(self) -> None:
        """The splitter's first sizes, in pixels once it has its real size (before, Qt rescales them)."""
        if not self._share_pending or not self.isVisible():
            return
        total = self.splitter.width() if self.splitter.orientation() == Qt.Orientation.Horizontal else (
            self.splitter.height())  # fmt: skip
        if total <= 0:
            return
        self._share_pending = False
        if self.splitter.orientation() == Qt.Orientation.Horizontal:
            # The inspector up to its comfortable width, the tiles the rest (at least one column).
            first = max(self.view.minimumWidth(), total - INSPECTOR_WIDTH)
        else:
            first = total * self._shares[0] // sum(self._shares)
        self.splitter.setSizes([first, total - first])

    def _current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        entry = self.model.entry_at(current.row()) if current.isValid() else None
        self.details.show_entry(entry)
        self._selection_changed()
        if entry is not None:
            self.entry_selected.emit(entry)

    def _double_clicked(self, index: QModelIndex) -> None:
        entry = self.model.entry_at(index.row())
        if entry is not None:
            self.entry_selected.emit(entry)

    def _selection_changed(self, *args) -> None:
        entry = self.current_entry()
        has = entry is not None
        present = has and not entry.missing
        for action in (self.act_reuse, self.act_variations, self.act_copy, self.act_favorite, self.act_tags,
                       self.act_delete):  # fmt: skip
            action.setEnabled(has)
        for action in (self.act_init, self.act_export, self.act_reveal):
            action.setEnabled(present)
        self.export_menu.setEnabled(present)
        self.act_favorite.setChecked(bool(has and entry.favorite))

    def _context_menu(self, position) -> None:
        index = self.view.indexAt(position)
        if index.isValid() and not self.view.selectionModel().isSelected(index):
            self.view.selectionModel().setCurrentIndex(
                index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            )
        self.context_menu(on_entry=index.isValid()).exec(self.view.viewport().mapToGlobal(position))

    def context_menu(self, *, on_entry: bool) -> QMenu:
        """The right-click menu: every action by name; on empty space, the library's own actions."""
        menu = QMenu(self)
        if not on_entry:
            menu.addAction(self.act_rescan)
            menu.addAction(self.act_open_folder)
            return menu
        for action in (
            self.act_reuse,
            self.act_init,
            self.act_variations,
            self.act_copy,
            *self._entry_actions,
        ):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.act_favorite)
        menu.addAction(self.act_tags)
        menu.addSeparator()
        menu.addMenu(self.export_menu)
        menu.addAction(self.act_reveal)
        menu.addSeparator()
        menu.addAction(self.act_delete)
        return menu

    def _apply(self, change, entry_id: int, value) -> None:
        try:
            entry = change(entry_id, value)
        except DiT360Error as e:
            self.report_error("Could not update the library", str(e))
            return
        _, favorites_only, _ = self.model.query
        if favorites_only and not entry.favorite:
            self.model.remove_ids([entry.id])
        else:
            # Under a search, an entry whose tags no longer match stays until the query changes, so
            # editing never makes the item under the cursor vanish.
            self.model.update_entry(entry)

    def _sync_current(self) -> None:
        entry = self.current_entry()
        self.details.show_entry(entry)
        self._selection_changed()

    def _focus_tags(self) -> None:
        self.details.tags.setFocus()
        self.details.tags.selectAll()

    def _show_notices(self, notices: list[str]) -> None:
        if notices:
            self.notice.setText("\n".join(notices))
            self.notice.show()

    def _exported(self, paths: list[str]) -> None:
        first = paths[0] if paths else ""
        more = f" and {len(paths) - 1} more" if len(paths) > 1 else ""
        self.status_message.emit(f"Exported {first}{more}")

    def _rescanned(self, report: RescanReport) -> None:
        self.refresh()
        self.status_message.emit(f"Rescan done: {report.summary()}")

    def _ask(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    def _warn(self, title: str, text: str) -> None:
        QMessageBox.warning(self, title, text)

    def _export_dialog(self, entry: Entry, fmt: str) -> tuple[Path, ExportOptions] | None:
        return run_export_dialog(ExportDialog(entry, self, initial_format=fmt))
