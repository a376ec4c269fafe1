"""How the gallery view paints a tile: one blit of the finished card the loader drew (``tile.py``).

The delegate asks the GalleryModel's Python methods directly instead of ``index.data(role)``: that skips
a QVariant round trip per field per tile, and QPixmaps reach the painter unconverted.

All tiles have one size (the view runs with uniform item sizes, which is what keeps a 10,000-item layout
instant), and painting reads only cached data. A scrolling frame repaints about 36 tiles, so a tile's
text, antialiased corners and badges are drawn once, on the loader's thread, not once per frame: here a
card is blitted, a selected or hovered one gets its frame drawn over it, and a tile still loading is a
flat panel. A card drawn from other values (a resize, a new tag) stays on screen, scaled,
until its replacement arrives.
"""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QPainter, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from dit360_desktop.ui.gallery.model import GalleryModel
from dit360_desktop.ui.gallery.tile import (
    ACCENT,
    LOADING_BG,
    MUTED,
    PADDING,
    RADIUS,
    TEXT,
    TEXT_GAP,
    TILE_BG,
    TILE_HOVER,
    TileStyle,
    shown_fields,
    text_lines,
)

MAX_CACHED_TEXTS = 1200
_SELECTED = QStyle.StateFlag.State_Selected
_HOVERED = QStyle.StateFlag.State_MouseOver
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


class TileDelegate(QStyledItemDelegate):
    def __init__(self, style: TileStyle, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._texts: OrderedDict[tuple, tuple[str, str]] = OrderedDict()
        self.set_style(style)

    def set_style(self, style: TileStyle) -> None:
        self.style = style
        self.thumb_width = style.thumb_width
        self._size = style.size
        self._key = style.key
        self._texts.clear()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(self._size)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        model = index.model()
        if not isinstance(model, GalleryModel):
            return
        row = index.row()
        entry = model.entry_at(row)
        if entry is None:
            return
        rect = option.rect
        card = model.thumbnail_at(row)
        if card is None:
            self._paint_loading(painter, rect, entry, model.thumbnail_failed(row))
        else:
            stamp = model.stamp_at(row)
            if stamp is not None and stamp[1] == self._key and stamp[0] == shown_fields(entry):
                painter.drawPixmap(rect.topLeft(), card)
            else:
                painter.save()
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
                painter.drawPixmap(rect, card)
                painter.restore()
                model.redraw(row)
        state = option.state
        if state & _SELECTED or state & _HOVERED:
            self._paint_frame(painter, rect, bool(state & _SELECTED))

    def _paint_frame(self, painter: QPainter, rect: QRect, selected: bool) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(ACCENT, 2.0) if selected else Qt.PenStyle.NoPen)
        painter.setBrush(Qt.BrushStyle.NoBrush if selected else TILE_HOVER)
        painter.drawRoundedRect(QRectF(rect).adjusted(1.5, 1.5, -1.5, -1.5), RADIUS + 2, RADIUS + 2)
        painter.restore()

    def _paint_loading(self, painter: QPainter, rect: QRect, entry, failed: bool) -> None:
        """A tile whose card is on its way: two flat panels, no text (while the view scrolls fast the
        loader falls behind, and these are most of a frame). A tile without a picture gets its text."""
        thumb = self.style.thumb_rect.translated(rect.topLeft())
        painter.fillRect(rect.adjusted(2, 2, -2, -2), TILE_BG)
        painter.fillRect(thumb, LOADING_BG)
        if not failed:
            return
        style = self.style
        painter.save()
        painter.setPen(MUTED)
        painter.drawText(thumb, Qt.AlignmentFlag.AlignCenter, "No preview")
        prompt, detail = self._lines(entry)
        line = (self._size.height() - thumb.height() - 2 * PADDING - TEXT_GAP - 2) // 2
        top = thumb.bottom() + 1 + TEXT_GAP
        painter.setFont(style.font)
        painter.setPen(TEXT)
        painter.drawText(QRect(thumb.left(), top, thumb.width(), line), _LEFT, prompt)
        painter.setFont(style.small)
        painter.setPen(MUTED)
        painter.drawText(QRect(thumb.left(), top + line, thumb.width(), line), _LEFT, detail)
        painter.restore()

    def _lines(self, entry) -> tuple[str, str]:
        key = (entry.id, shown_fields(entry))
        lines = self._texts.get(key)
        if lines is None:
            lines = self._texts[key] = text_lines(entry, self.style)
            while len(self._texts) > MAX_CACHED_TEXTS:
                self._texts.popitem(last=False)
        return lines
