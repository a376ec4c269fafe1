"""How one gallery tile is drawn: thumbnail, favourite star, missing badge, prompt and a detail line.

All tiles have one size (the view runs with uniform item sizes, which is what keeps a 10,000-item layout
instant), and painting reads only cached data: a tile whose thumbnail is still loading gets a flat
placeholder panel and is repainted when the image arrives.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from dit360_desktop.core.request import PANORAMA_PREFIX
from dit360_desktop.history.entry import Entry
from dit360_desktop.ui.gallery_icons import star_polygon
from dit360_desktop.ui.gallery_model import GalleryRole

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


def tile_size(thumb_width: int) -> QSize:
    thumb_height = thumb_width // 2
    line = QFontMetrics(QFont()).height()
    return QSize(thumb_width + 2 * PADDING, thumb_height + 2 * PADDING + TEXT_GAP + 2 * line + 2)


class TileDelegate(QStyledItemDelegate):
    def __init__(self, thumb_width: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.set_thumb_width(thumb_width)

    def set_thumb_width(self, width: int) -> None:
        self.thumb_width = width
        self._size = tile_size(width)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        return QSize(self._size)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        rect = QRectF(option.rect).adjusted(1.5, 1.5, -1.5, -1.5)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)

        background = TILE_SELECTED if selected else TILE_HOVER if hovered else TILE_BG
        painter.setPen(QPen(ACCENT, 2.0) if selected else Qt.PenStyle.NoPen)
        painter.setBrush(background)
        painter.drawRoundedRect(rect, RADIUS + 2, RADIUS + 2)

        thumb = QRectF(
            rect.left() + PADDING - 1.5, rect.top() + PADDING - 1.5, self.thumb_width, self.thumb_width / 2
        )
        entry: Entry | None = index.data(GalleryRole.ENTRY)
        self._paint_thumbnail(painter, thumb, index)
        if entry is not None:
            self._paint_badges(painter, thumb, entry)
            self._paint_text(painter, option, thumb, entry, selected)
        painter.restore()

    def _paint_thumbnail(
        self, painter: QPainter, thumb: QRectF, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        clip = QPainterPath()
        clip.addRoundedRect(thumb, RADIUS, RADIUS)
        pixmap: QPixmap | None = index.data(Qt.ItemDataRole.DecorationRole)
        painter.save()
        painter.setClipPath(clip)
        if pixmap is not None and not pixmap.isNull():
            painter.drawPixmap(thumb, pixmap, QRectF(pixmap.rect()))
        else:
            painter.fillRect(thumb, LOADING_BG)
            if index.data(GalleryRole.THUMBNAIL_FAILED):
                painter.setPen(MUTED)
                painter.drawText(thumb, Qt.AlignmentFlag.AlignCenter, "No preview")
            else:
                # A faint horizon line: the shape of a panorama while its pixels load.
                painter.setPen(QPen(QColor(255, 255, 255, 18), 1.0))
                middle = thumb.center().y()
                painter.drawLine(QPointF(thumb.left(), middle), QPointF(thumb.right(), middle))
        painter.restore()

    def _paint_badges(self, painter: QPainter, thumb: QRectF, entry: Entry) -> None:
        if entry.missing:
            painter.fillRect(thumb, QColor(10, 12, 16, 150))
            badge = QRectF(thumb.left() + 6, thumb.top() + 6, 58, 18)
            painter.setPen(Qt.PenStyle.NoPen)
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

    def _paint_text(
        self, painter: QPainter, option: QStyleOptionViewItem, thumb: QRectF, entry: Entry, selected: bool
    ) -> None:
        font = QFont(option.font)
        metrics = QFontMetrics(font)
        line = metrics.height()
        width = int(thumb.width())
        top = int(thumb.bottom()) + TEXT_GAP
        left = int(thumb.left())
        prompt = _display_prompt(entry.prompt)
        painter.setFont(font)
        painter.setPen(TEXT if not selected else QColor("white"))
        painter.drawText(
            QRect(left, top, width, line),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            metrics.elidedText(prompt, Qt.TextElideMode.ElideRight, width),
        )
        small = QFont(font)
        small.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        small_metrics = QFontMetrics(small)
        when = entry.created_at.astimezone().strftime("%b %d, %H:%M")
        seed = "" if entry.seed is None else f"seed {entry.seed} · "
        tags = f" · {', '.join(entry.tags)}" if entry.tags else ""
        detail = f"{when} · {seed}{entry.width}×{entry.height}{tags}"
        painter.setFont(small)
        painter.setPen(MUTED)
        painter.drawText(
            QRect(left, top + line, width, line),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            small_metrics.elidedText(detail, Qt.TextElideMode.ElideRight, width),
        )


def _display_prompt(prompt: str) -> str:
    """The prompt without the fixed DiT360 prefix, which says nothing about this image."""
    text = " ".join(prompt.split())
    if text.startswith(PANORAMA_PREFIX):
        text = text[len(PANORAMA_PREFIX) :].strip() or text
    return text
