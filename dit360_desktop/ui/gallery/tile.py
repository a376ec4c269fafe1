"""What one gallery tile looks like: a rounded card with the thumbnail, badges, the prompt and a detail line.

``draw_card`` paints the whole card with a QPainter on a QImage, which is safe off the UI thread: the
thumbnail loader makes finished cards on its pool thread, and a scrolling frame only blits them (a frame
repaints about 36 tiles, and their text and antialiased corners cost several times a blit).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen

from dit360_desktop.history.entry import Entry
from dit360_desktop.panorama.request import PANORAMA_PREFIX
from dit360_desktop.ui.gallery.icons import star_polygon

# The app's dark theme (resources/style.qss).
TILE_BG = QColor("#1f242d")
TILE_HOVER = QColor(255, 255, 255, 14)
ACCENT = QColor("#4c8dff")
LOADING_BG = QColor("#2a303b")
TEXT = QColor("#d9dee7")
MUTED = QColor("#8a93a3")
STAR = QColor("#ffc857")
WARNING = QColor("#e0605a")

PADDING = 6
TEXT_GAP = 6
RADIUS = 6.0


def tile_size(thumb_width: int, font: QFont | None = None) -> QSize:
    thumb_height = thumb_width // 2
    line = QFontMetrics(font or QFont()).height()
    return QSize(thumb_width + 2 * PADDING, thumb_height + 2 * PADDING + TEXT_GAP + 2 * line + 2)


@dataclass(frozen=True)
class TileStyle:
    """Everything a card's look depends on besides its entry; made on the UI thread, read by the loader."""

    thumb_width: int
    ratio: float
    font: QFont
    small: QFont

    @staticmethod
    def for_font(thumb_width: int, ratio: float, base: QFont) -> TileStyle:
        small = QFont(base)
        small.setPointSizeF(max(7.0, base.pointSizeF() * 0.85))
        return TileStyle(thumb_width, ratio, QFont(base), small)

    @property
    def size(self) -> QSize:
        return tile_size(self.thumb_width, self.font)

    @property
    def device_size(self) -> QSize:
        size = self.size
        return QSize(round(size.width() * self.ratio), round(size.height() * self.ratio))

    @property
    def thumb_rect(self) -> QRect:
        return QRect(PADDING, PADDING, self.thumb_width, self.thumb_width // 2)

    @property
    def thumb_device_size(self) -> QSize:
        return QSize(round(self.thumb_width * self.ratio), round(self.thumb_width // 2 * self.ratio))

    @property
    def key(self) -> tuple:
        return (self.thumb_width, self.ratio, self.font.key())


def shown_fields(entry: Entry) -> tuple:
    """The entry's fields a card shows: a card made from other values is stale."""
    return (entry.prompt, entry.tags, entry.seed, entry.width, entry.height, entry.favorite, entry.missing,
            entry.created_at)  # fmt: skip


def text_lines(entry: Entry, style: TileStyle) -> tuple[str, str]:
    when = entry.created_at.astimezone().strftime("%b %d, %H:%M")
    seed = "" if entry.seed is None else f"seed {entry.seed} · "
    tags = f" · {', '.join(entry.tags)}" if entry.tags else ""
    detail = f"{when} · {seed}{entry.width}×{entry.height}{tags}"
    width = style.thumb_width
    return (
        QFontMetrics(style.font).elidedText(display_prompt(entry.prompt), Qt.TextElideMode.ElideRight, width),
        QFontMetrics(style.small).elidedText(detail, Qt.TextElideMode.ElideRight, width),
    )


def display_prompt(prompt: str) -> str:
    """The prompt without the fixed DiT360 prefix, which says nothing about this image."""
    text = " ".join(prompt.split())
    if text.startswith(PANORAMA_PREFIX):
        text = text[len(PANORAMA_PREFIX) :].strip() or text
    return text


def draw_card(
    painter: QPainter, style: TileStyle, entry: Entry, thumbnail: QImage | None, lines: tuple[str, str]
) -> None:
    """The card at (0, 0) in logical pixels; ``thumbnail`` is the rounded picture, None while loading."""
    size = style.size
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(TILE_BG)
    painter.drawRoundedRect(QRectF(0, 0, size.width(), size.height()).adjusted(1.5, 1.5, -1.5, -1.5),
                            RADIUS + 2, RADIUS + 2)  # fmt: skip
    thumb = style.thumb_rect
    if thumbnail is not None:
        painter.drawImage(QRectF(thumb), thumbnail)
    else:
        painter.setBrush(LOADING_BG)
        painter.drawRoundedRect(QRectF(thumb), RADIUS, RADIUS)
        # A faint horizon line: the shape of a panorama while its pixels load.
        painter.setPen(QPen(QColor(255, 255, 255, 18), 1.0))
        middle = thumb.center().y()
        painter.drawLine(thumb.left(), middle, thumb.right(), middle)
    draw_badges(painter, QRectF(thumb), entry)
    line = QFontMetrics(style.font).height()
    top = thumb.bottom() + 1 + TEXT_GAP
    align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
    painter.setFont(style.font)
    painter.setPen(TEXT)
    painter.drawText(QRect(thumb.left(), top, thumb.width(), line), align, lines[0])
    painter.setFont(style.small)
    painter.setPen(MUTED)
    painter.drawText(QRect(thumb.left(), top + line, thumb.width(), line), align, lines[1])


def make_card(style: TileStyle, entry: Entry, thumbnail: QImage | None) -> QImage:
    card = QImage(style.device_size, QImage.Format.Format_ARGB32_Premultiplied)
    card.setDevicePixelRatio(style.ratio)
    card.fill(Qt.GlobalColor.transparent)
    painter = QPainter(card)
    try:
        draw_card(painter, style, entry, thumbnail, text_lines(entry, style))
    finally:
        painter.end()
    return card


def draw_badges(painter: QPainter, thumb: QRectF, entry: Entry) -> None:
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
