"""How one gallery tile is drawn: thumbnail, favourite star, missing badge, prompt and a detail line.

The delegate asks the GalleryModel's Python methods directly instead of ``index.data(role)``: that skips
a QVariant round trip per field per tile, and Entry objects and QPixmaps reach the painter unconverted.

All tiles have one size (the view runs with uniform item sizes, which is what keeps a 10,000-item layout
instant), and painting reads only cached data: a tile whose thumbnail is still loading gets a flat
blank panel and is repainted when the image arrives.
"""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from dit360_desktop.history.entry import Entry
from dit360_desktop.panorama.request import PANORAMA_PREFIX
from dit360_desktop.ui.gallery.icons import star_polygon
from dit360_desktop.ui.gallery.model import GalleryModel
from dit360_desktop.ui.gallery.thumbs import tile_image

# The app's dark theme (resources/style.qss).
TILE_BG = QColor("#1f242d")
TILE_HOVER = QColor("#262c37")
TILE_SELECTED = QColor("#243250")
ACCENT = QColor("#4c8dff")
LOADING_BG = QColor("#2a303b")
TEXT = QColor("#d9dee7")
MUTED = QColor("#8a93a3")
STAR = QColor("#ffc857")
WARNING = QColor("#e0605a")

PADDING = 6
TEXT_GAP = 6
RADIUS = 6.0
MAX_CACHED_TILES = 300


def tile_size(thumb_width: int) -> QSize:
    thumb_height = thumb_width // 2
    line = QFontMetrics(QFont()).height()
    return QSize(thumb_width + 2 * PADDING, thumb_height + 2 * PADDING + TEXT_GAP + 2 * line + 2)


class TileDelegate(QStyledItemDelegate):
    def __init__(self, thumb_width: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Thumbnails that arrived at another tile size (before a resize), rescaled once: painting stays a
        # 1:1 blit, about 20× cheaper than a smooth scaled draw through a clip path on every frame.
        self._tiles: OrderedDict[tuple[int, int, int, float], QPixmap] = OrderedDict()
        self._texts: OrderedDict[tuple, tuple[str, str]] = OrderedDict()
        self._fonts: tuple[str, QFont, QFont, int] | None = None
        self.set_thumb_width(thumb_width)

    def set_thumb_width(self, width: int) -> None:
        self.thumb_width = width
        self._size = tile_size(width)
        self._tiles.clear()
        self._texts.clear()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(self._size)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(option.rect).adjusted(1.5, 1.5, -1.5, -1.5)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)

        background = TILE_SELECTED if selected else TILE_HOVER if hovered else TILE_BG
        painter.setPen(QPen(ACCENT, 2.0) if selected else Qt.PenStyle.NoPen)
        painter.setBrush(background)
        painter.drawRoundedRect(rect, RADIUS + 2, RADIUS + 2)

        thumb = QRect(
            option.rect.left() + PADDING, option.rect.top() + PADDING, self.thumb_width, self.thumb_width // 2
        )
        model = index.model()
        if isinstance(model, GalleryModel):
            row = index.row()
            self._paint_thumbnail(painter, thumb, model, row)
            entry = model.entry_at(row)
            if entry is not None:
                self._paint_badges(painter, QRectF(thumb), entry)
                self._paint_text(painter, option, thumb, entry, selected)
        painter.restore()

    def _paint_thumbnail(self, painter: QPainter, thumb: QRect, model: GalleryModel, row: int) -> None:
        pixmap = model.thumbnail_at(row)
        if pixmap is not None and not pixmap.isNull():
            ratio = painter.device().devicePixelRatioF()
            if pixmap.size() == QSize(round(thumb.width() * ratio), round(thumb.height() * ratio)):
                # The loader made it at exactly this size with its corners rounded: a plain blit.
                pixmap.setDevicePixelRatio(ratio)
                painter.drawPixmap(thumb.topLeft(), pixmap)
            else:
                # Made for another tile size (the panel was just resized): rescale once, cached.
                painter.drawPixmap(thumb.topLeft(), self._rounded(pixmap, thumb.size(), ratio))
            return
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(LOADING_BG)
        painter.drawRoundedRect(QRectF(thumb), RADIUS, RADIUS)
        if model.thumbnail_failed(row):
            painter.setPen(MUTED)
            painter.drawText(thumb, Qt.AlignmentFlag.AlignCenter, "No preview")
        else:
            # A faint horizon line: the shape of a panorama while its pixels load.
            painter.setPen(QPen(QColor(255, 255, 255, 18), 1.0))
            middle = thumb.center().y()
            painter.drawLine(thumb.left(), middle, thumb.right(), middle)

    def _rounded(self, pixmap: QPixmap, size: QSize, ratio: float) -> QPixmap:
        key = (pixmap.cacheKey(), size.width(), size.height(), ratio)
        tile = self._tiles.get(key)
        if tile is not None:
            self._tiles.move_to_end(key)
            return tile
        device = QSize(round(size.width() * ratio), round(size.height() * ratio))
        tile = QPixmap.fromImage(tile_image(pixmap.toImage(), device, RADIUS * ratio))
        tile.setDevicePixelRatio(ratio)
        self._tiles[key] = tile
        while len(self._tiles) > MAX_CACHED_TILES:
            self._tiles.popitem(last=False)
        return tile

    def _paint_badges(self, painter: QPainter, thumb: QRectF, entry: Entry) -> None:
        if entry.missing:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(10, 12, 16, 150))
            painter.drawRoundedRect(thumb, RADIUS, RADIUS)
            badge = QRectF(thumb.left() + 6, thumb.top() + 6, 58, 18)
            painter.setBrush(WARNING)
            painter.drawRoundedRect(badge, 4, 4)
            painter.setPen(QColor("white"))
            font = QFont(painter.font())
            font.setPointSizeF(max(6.5, font.pointSizeF() * 0.75))
            font.setBold(True)
            painter.setFont(font)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "MISSING")
        if entry.favorite:
            centre = QPointF(thumb.right() - 14, thumb.top() + 14)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(12, 14, 18, 170))
            painter.drawEllipse(centre, 11, 11)
            painter.setBrush(STAR)
            painter.drawPolygon(star_polygon(centre.x(), centre.y(), 7.5, 3.2))

    def _fonts_for(self, base: QFont) -> tuple[QFont, QFont, int]:
        if self._fonts is None or self._fonts[0] != base.key():
            small = QFont(base)
            small.setPointSizeF(max(7.0, base.pointSizeF() * 0.85))
            self._fonts = (base.key(), QFont(base), small, QFontMetrics(base).height())
            self._texts.clear()
        return self._fonts[1], self._fonts[2], self._fonts[3]

    def _paint_text(
        self, painter: QPainter, option: QStyleOptionViewItem, thumb: QRect, entry: Entry, selected: bool
    ) -> None:
        font, small, line = self._fonts_for(option.font)
        width = thumb.width()
        prompt, detail = self._lines(entry, font, small, width)
        top = thumb.bottom() + 1 + TEXT_GAP
        align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.setFont(font)
        painter.setPen(QColor("white") if selected else TEXT)
        painter.drawText(QRect(thumb.left(), top, width, line), align, prompt)
        painter.setFont(small)
        painter.setPen(MUTED)
        painter.drawText(QRect(thumb.left(), top + line, width, line), align, detail)

    def _lines(self, entry: Entry, font: QFont, small: QFont, width: int) -> tuple[str, str]:
        key = (entry.id, entry.prompt, entry.tags, entry.seed, width)
        lines = self._texts.get(key)
        if lines is None:
            when = entry.created_at.astimezone().strftime("%b %d, %H:%M")
            seed = "" if entry.seed is None else f"seed {entry.seed} · "
            tags = f" · {', '.join(entry.tags)}" if entry.tags else ""
            detail = f"{when} · {seed}{entry.width}×{entry.height}{tags}"
            lines = (
                QFontMetrics(font).elidedText(
                    _display_prompt(entry.prompt), Qt.TextElideMode.ElideRight, width
                ),
                QFontMetrics(small).elidedText(detail, Qt.TextElideMode.ElideRight, width),
            )
            self._texts[key] = lines
            while len(self._texts) > MAX_CACHED_TILES * 4:
                self._texts.popitem(last=False)
        return lines


def _display_prompt(prompt: str) -> str:
    """The prompt without the fixed DiT360 prefix, which says nothing about this image."""
    text = " ".join(prompt.split())
    if text.startswith(PANORAMA_PREFIX):
        text = text[len(PANORAMA_PREFIX) :].strip() or text
    return text
