"""Gallery icons the shared icon set lacks, drawn with QPainter in the same style (24 px, 1.8 px strokes)."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap, QPolygonF

STROKE = QColor("#d9dee7")
STAR = QColor("#ffc857")
SIZES = (16, 24, 32, 48)


def _render(draw: Callable[[QPainter], None]) -> QIcon:
    icon = QIcon()
    for size in SIZES:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.scale(size / 24.0, size / 24.0)
        pen = QPen(STROKE, 1.8)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        draw(painter)
        painter.end()
        icon.addPixmap(pixmap)
    return icon


def star_polygon(cx: float, cy: float, outer: float, inner: float) -> QPolygonF:
    points = []
    for i in range(10):
        radius = outer if i % 2 == 0 else inner
        angle = -math.pi / 2 + i * math.pi / 5
        points.append(QPointF(cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return QPolygonF(points)


def _star(painter: QPainter, filled: bool) -> None:
    if filled:
        painter.setPen(
            QPen(STAR, 1.8, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        )
        painter.setBrush(STAR)
    painter.drawPolygon(star_polygon(12, 12.6, 9.0, 3.9))


def _copy(painter: QPainter) -> None:
    painter.drawRoundedRect(QRectF(8.5, 8.5, 11, 11), 2, 2)
    painter.drawPolyline([QPointF(15.5, 8.5), QPointF(15.5, 4.5), QPointF(4.5, 4.5), QPointF(4.5, 15.5),
                          QPointF(8.5, 15.5)])  # fmt: skip


def _export(painter: QPainter) -> None:
    painter.drawPolyline([QPointF(8, 10), QPointF(5, 10), QPointF(5, 20), QPointF(19, 20), QPointF(19, 10),
                          QPointF(16, 10)])  # fmt: skip
    painter.drawLine(QPointF(12, 15), QPointF(12, 3.5))
    painter.drawPolyline([QPointF(8.5, 7), QPointF(12, 3.5), QPointF(15.5, 7)])


def _trash(painter: QPainter) -> None:
    painter.drawLine(QPointF(4, 6.5), QPointF(20, 6.5))
    painter.drawPolyline([QPointF(9, 6.5), QPointF(9.5, 4), QPointF(14.5, 4), QPointF(15, 6.5)])
    painter.drawPolyline([QPointF(6, 6.5), QPointF(7, 20), QPointF(17, 20), QPointF(18, 6.5)])
    painter.drawLine(QPointF(10, 10), QPointF(10.3, 16.5))
    painter.drawLine(QPointF(14, 10), QPointF(13.7, 16.5))


def _tag(painter: QPainter) -> None:
    painter.drawPolygon(QPolygonF([QPointF(4, 4), QPointF(12, 4), QPointF(20, 12), QPointF(12, 20),
                                   QPointF(4, 12)]))  # fmt: skip
    painter.drawEllipse(QPointF(8.5, 8.5), 1.3, 1.3)


def _more(painter: QPainter) -> None:
    painter.setBrush(STROKE)
    painter.setPen(Qt.PenStyle.NoPen)
    for x in (6, 12, 18):
        painter.drawEllipse(QPointF(x, 12), 1.6, 1.6)


_DRAWINGS: dict[str, Callable[[QPainter], None]] = {
    "star": lambda p: _star(p, False),
    "star-filled": lambda p: _star(p, True),
    "copy": _copy,
    "export": _export,
    "trash": _trash,
    "tag": _tag,
    "more": _more,
}


@cache
def gallery_icon(name: str) -> QIcon:
    """A drawn icon; the favourite toggle gets the outline star off and the filled star on."""
    if name == "favorite":
        icon = QIcon()
        for size in SIZES:
            icon.addPixmap(gallery_icon("star").pixmap(size, size), QIcon.Mode.Normal, QIcon.State.Off)
            icon.addPixmap(gallery_icon("star-filled").pixmap(size, size), QIcon.Mode.Normal, QIcon.State.On)
        return icon
    return _render(_DRAWINGS[name])
