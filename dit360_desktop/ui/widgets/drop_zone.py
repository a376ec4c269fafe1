"""The drop zone shown while a file is dragged over the window: an accent frame and a caption.

A plain widget cannot draw over the viewer (its OpenGL window is a native child window that covers
any sibling), so the viewer draws the same highlight itself (``PanoramaViewer.set_drop_highlight``)
and this overlay covers the rest of the window.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QWidget

ACCENT = QColor(0x4C, 0x8D, 0xFF)
DROP_CAPTION = "Drop the picture to use it"
DROP_DETAIL = "Restore its parameters or start from it as the init image"


def paint_drop_zone(painter: QPainter, rect: QRectF, *, caption: bool = True) -> None:
    """A tinted, dashed accent frame inside ``rect``, with the caption in the middle."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    fill = QColor(ACCENT)
    fill.setAlpha(46)
    pen = QPen(ACCENT, 3.0, Qt.PenStyle.DashLine)
    pen.setDashPattern([4.0, 3.0])
    painter.setPen(pen)
    painter.setBrush(fill)
    inner = rect.adjusted(6, 6, -6, -6)
    painter.drawRoundedRect(inner, 10, 10)
    if caption and inner.width() > 160 and inner.height() > 60:
        title = QFont(painter.font())
        title.setPointSizeF(max(11.0, title.pointSizeF() * 1.5))
        title.setBold(True)
        painter.setFont(title)
        painter.setPen(QColor(0xE8, 0xEC, 0xF2))
        middle = inner.center().y()
        painter.drawText(
            QRectF(inner.left(), middle - 34, inner.width(), 32),
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom,
            DROP_CAPTION,
        )
        detail = QFont(painter.font())
        detail.setBold(False)
        detail.setPointSizeF(title.pointSizeF() / 1.5)
        painter.setFont(detail)
        painter.setPen(QColor(0xB8, 0xC2, 0xD3))
        painter.drawText(
            QRectF(inner.left(), middle + 2, inner.width(), 28),
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
            DROP_DETAIL,
        )
    painter.restore()


class DropHighlight(QWidget):
    """Covers its parent window while a file is over it; invisible to the mouse and to drops."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setObjectName("DropHighlight")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground, True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.hide()
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and self.isVisible():
            self.setGeometry(self.parentWidget().rect())
        return False

    def show_over_window(self) -> None:
        self.setGeometry(self.parentWidget().rect())
        self.raise_()
        self.show()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        paint_drop_zone(painter, QRectF(self.rect()))
        painter.end()
