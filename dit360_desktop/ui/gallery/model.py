"""The gallery's list model: 10,000 entries without loading 10,000 entries.

Up front it holds only the ordered ids of the current query (one indexed SELECT). Entries are fetched a
page at a time when the view first asks for a row, and kept in a bounded LRU; finished tiles ("cards":
thumbnail, text, badges) are requested from the ``ThumbnailLoader`` only for rows the view paints, and
kept as QPixmaps in another LRU with the stamp they were drawn from.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import QImage, QPixmap

from dit360_desktop.history.entry import Entry
from dit360_desktop.history.library import Library
from dit360_desktop.ui.gallery.thumbs import ThumbnailLoader
from dit360_desktop.ui.gallery.tile import TileStyle

log = logging.getLogger(__name__)

PAGE_SIZE = 64
MAX_CACHED_ENTRIES = 4000
# Finished cards (about 160 kB each at 1×): several screenfuls.
MAX_CACHED_PIXMAPS = 200


_ITEM_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled


class GalleryRole(IntEnum):
    ENTRY = Qt.ItemDataRole.UserRole + 1
    ENTRY_ID = Qt.ItemDataRole.UserRole + 2
    THUMBNAIL_FAILED = Qt.ItemDataRole.UserRole + 3


class GalleryModel(QAbstractListModel):
    count_changed = Signal(int)

    def __init__(self, library: Library, style: TileStyle, parent: Any = None) -> None:
        super().__init__(parent)
        self._library = library
        self._query: tuple[str, bool, str] = ("", False, "newest")
        self._ids: list[int] = []
        self._rows: dict[int, int] | None = None
        self._entries: OrderedDict[int, Entry] = OrderedDict()
        self._pixmaps: OrderedDict[int, QPixmap] = OrderedDict()
        self._stamps: dict[int, object] = {}
        self._failed: set[int] = set()
        self.loader = ThumbnailLoader(library.ensure_thumbnail, style, self)
        self.loader.loaded.connect(self._on_thumbnail)
        self.loader.failed.connect(self._on_thumbnail_failed)

    # Query

    @property
    def query(self) -> tuple[str, bool, str]:
        return self._query

    def set_query(self, text: str = "", favorites_only: bool = False, order: str = "newest") -> None:
        self._query = (text, favorites_only, order)
        self.reload()

    def reload(self) -> None:
        ids = self._library.ids(*self._query)
        self.beginResetModel()
        self._ids = ids
        self._rows = None
        # Entries may have changed behind our back (tags, favourites, a rescan): fetch them again.
        self._entries.clear()
        self._failed.clear()
        self.endResetModel()
        self.count_changed.emit(len(self._ids))

    # Qt model interface

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._ids):
            return None
        entry_id = self._ids[index.row()]
        if role == GalleryRole.ENTRY_ID:
            return entry_id
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(index.row(), entry_id)
        if role == GalleryRole.THUMBNAIL_FAILED:
            return entry_id in self._failed
        entry = self.entry_at(index.row())
        if entry is None:
            return None
        if role == GalleryRole.ENTRY:
            return entry
        if role == Qt.ItemDataRole.DisplayRole:
            return " ".join(entry.prompt.split())
        if role == Qt.ItemDataRole.ToolTipRole:
            when = entry.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
            missing = "\nThe image file is missing." if entry.missing else ""
            return f"{entry.prompt}\nSeed {entry.seed} · {entry.width}×{entry.height} · {when}{missing}"
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        # The view asks this for every tile it paints: one constant, no enum arithmetic per call.
        return _ITEM_FLAGS if index.isValid() else Qt.ItemFlag.NoItemFlags

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list", "text/plain"]

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:
        """Dragged-out items are the image files themselves, so any app that takes files accepts them."""
        mime = QMimeData()
        entries = [self.entry_at(i.row()) for i in indexes if i.isValid()]
        paths = [e.path for e in entries if e is not None and not e.missing]
        mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
        mime.setText("\n".join(str(p) for p in paths))
        return mime

    # Entries

    def entry_at(self, row: int) -> Entry | None:
        if not 0 <= row < len(self._ids):
            return None
        entry_id = self._ids[row]
        entry = self._entries.get(entry_id)
        if entry is None:
            self._fetch_page(row)
            entry = self._entries.get(entry_id)
        else:
            self._entries.move_to_end(entry_id)
        return entry

    def row_of(self, entry_id: int) -> int | None:
        if self._rows is None:
            self._rows = {entry_id: row for row, entry_id in enumerate(self._ids)}
        return self._rows.get(entry_id)

    def ids(self) -> list[int]:
        return list(self._ids)

    def _fetch_page(self, row: int) -> None:
        start = max(0, row - PAGE_SIZE // 4)
        wanted = [i for i in self._ids[start : start + PAGE_SIZE] if i not in self._entries]
        for entry in self._library.get_many(wanted):
            self._entries[entry.id] = entry
        while len(self._entries) > MAX_CACHED_ENTRIES:
            self._entries.popitem(last=False)

    def add_entry(self, entry: Entry) -> None:
        """Show a new (or changed) entry at once, where the current query and order put it."""
        self._entries[entry.id] = entry
        if self.row_of(entry.id) is not None:
            self.update_entry(entry)
            return
        ids = self._library.ids(*self._query)
        if entry.id not in ids:
            return  # the search or favourites filter hides it
        position = ids.index(entry.id)
        if ids[:position] + ids[position + 1 :] == self._ids:
            self.beginInsertRows(QModelIndex(), position, position)
            self._ids = ids
            self._rows = None
            self.endInsertRows()
            self.count_changed.emit(len(self._ids))
        else:
            self.reload()

    def update_entry(self, entry: Entry) -> None:
        self._entries[entry.id] = entry
        row = self.row_of(entry.id)
        if row is not None:
            index = self.index(row)
            self.dataChanged.emit(index, index)

    def remove_ids(self, entry_ids: list[int]) -> None:
        for entry_id in entry_ids:
            row = self.row_of(entry_id)
            if row is None:
                continue
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._ids[row]
            self._rows = None
            self._entries.pop(entry_id, None)
            self._pixmaps.pop(entry_id, None)
            self._stamps.pop(entry_id, None)
            self.endRemoveRows()
        self.count_changed.emit(len(self._ids))

    # Thumbnails

    def thumbnail_at(self, row: int) -> QPixmap | None:
        """The row's finished card, or None while it loads (the load is started here)."""
        if not 0 <= row < len(self._ids):
            return None
        return self._thumbnail(row, self._ids[row])

    def stamp_at(self, row: int) -> object:
        """What the row's card was drawn from (``ThumbnailLoader.loaded``), None without a card."""
        return self._stamps.get(self._ids[row]) if 0 <= row < len(self._ids) else None

    def redraw(self, row: int) -> None:
        """Ask for a new card for a row whose card is stale (keeping the old one on screen meanwhile)."""
        entry = self.entry_at(row)
        if entry is not None and not self.loader.is_pending(entry.id):
            self.loader.request(entry)

    def thumbnail_failed(self, row: int) -> bool:
        return 0 <= row < len(self._ids) and self._ids[row] in self._failed

    def _thumbnail(self, row: int, entry_id: int) -> QPixmap | None:
        pixmap = self._pixmaps.get(entry_id)
        if pixmap is not None:
            self._pixmaps.move_to_end(entry_id)
            return pixmap
        if entry_id not in self._failed and not self.loader.is_pending(entry_id):
            entry = self.entry_at(row)
            if entry is not None:
                self.loader.request(entry)
        return None

    def _on_thumbnail(self, entry_id: int, image: QImage, stamp: object) -> None:
        # QPixmap must be made on the UI thread; it is what the delegate draws fastest.
        self._pixmaps[entry_id] = QPixmap.fromImage(image)
        self._pixmaps.move_to_end(entry_id)
        self._stamps[entry_id] = stamp
        while len(self._pixmaps) > MAX_CACHED_PIXMAPS:
            self._stamps.pop(self._pixmaps.popitem(last=False)[0], None)
        self._emit_changed(entry_id, Qt.ItemDataRole.DecorationRole)

    def _on_thumbnail_failed(self, entry_id: int, message: str) -> None:
        self._failed.add(entry_id)
        self._emit_changed(entry_id, GalleryRole.THUMBNAIL_FAILED)

    def _emit_changed(self, entry_id: int, role: int) -> None:
        row = self.row_of(entry_id)
        if row is not None:
            index = self.index(row)
            self.dataChanged.emit(index, index, [role])

    def drop_thumbnail(self, entry_id: int) -> None:
        self._pixmaps.pop(entry_id, None)
        self._stamps.pop(entry_id, None)
        self._failed.discard(entry_id)
