"""What the viewer draws over the panorama in screen space: the view readout, the grid's labels, the drop
zone, and whatever a tool adds (``PanoramaViewer.add_overlay``; the editing tools' brush outline).

Overlays paint with a QPainter straight onto the viewer's OpenGL frame (QOpenGLPaintDevice), after
the panorama: no texture upload, and nothing at all to pay while none is visible. Sizes are in
logical pixels; ``project`` in ``viewer.screen`` places things on directions.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter

from dit360_desktop.ui.common.camera import CameraView, ViewMode
from dit360_desktop.ui.common.overlay import OverlayFrame
from dit360_desktop.ui.common.screen import grid_labels
from dit360_desktop.ui.widgets.drop_zone import paint_drop_zone

_PANEL = QColor(14, 16, 20, 170)
_TEXT = QColor(0xE8, 0xEC, 0xF2)
_HORIZON = QColor(255, 184, 64)
_PARALLEL = QColor(220, 228, 240)


def _signed(value: float) -> str:
    rounded = round(value)
    sign = "+" if rounded > 0 else "−" if rounded < 0 else ""
    return f"{sign}{abs(rounded)}°"


def readout_text(view: CameraView, pixel_scale: float | None) -> str:
    """ "Yaw +30°  Pitch −5°  FOV 90°", plus the zoom against the panorama's own pixels.

    The flat view's span includes the empty margin beside a fitted panorama in a wide viewer (561° at
    3.1:1); the readout gives the panorama's part of it, which is never more than 360°.
    """
    fov = min(view.fov, 360.0) if view.mode is ViewMode.FLAT else view.fov
    parts = [f"Yaw {_signed(view.yaw)}", f"Pitch {_signed(view.pitch)}", f"FOV {round(fov)}°"]
    if pixel_scale is not None:
        if abs(pixel_scale - 1.0) < 1e-6:
            parts.append("1:1")
        else:
            parts.append(f"{pixel_scale * 100:.0f} %")
    return "   ".join(parts)


def _label(painter: QPainter, text: str, centre: QPointF, colour: QColor) -> None:
    metrics = QFontMetricsF(painter.font())
    width = metrics.horizontalAdvance(text) + 8
    height = metrics.height() + 2
    box = QRectF(centre.x() - width / 2, centre.y() - height / 2, width, height)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(_PANEL)
    painter.drawRoundedRect(box, 3, 3)
    painter.setPen(colour)
    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)


class FocusRing:
    """A ring round the view while it has keyboard focus (Tab reaches the viewer; arrows then turn it):
    white inside black, so it shows on any panorama and in both themes."""

    def __init__(self, has_focus: Callable[[], bool]) -> None:
        self._has_focus = has_focus

    def visible(self) -> bool:
        return self._has_focus()

    def paint(self, painter: QPainter, frame: OverlayFrame) -> None:
        # Opaque filled bars, not a stroked outline: the GL paint engine strokes through a stencil
        # buffer this surface does not have, and a stroked rectangle came out as a dark fill.
        width, height = frame.width, frame.height
        for inset, colour in ((0.0, QColor(0, 0, 0)), (2.0, QColor(255, 255, 255))):
            w, h = width - 2 * inset, height - 2 * inset
            for bar in (
                QRectF(inset, inset, w, 2.0),
                QRectF(inset, height - inset - 2.0, w, 2.0),
                QRectF(inset, inset, 2.0, h),
                QRectF(width - inset - 2.0, inset, 2.0, h),
            ):
                painter.fillRect(bar, colour)


class ViewReadout:
    """Yaw, pitch and field of view in the bottom-left corner."""

    def __init__(self) -> None:
        self.enabled = True

    def visible(self) -> bool:
        return self.enabled

    def paint(self, painter: QPainter, frame: OverlayFrame) -> None:
        font = QFont(painter.font())
        font.setPointSizeF(8.5)
        painter.setFont(font)
        text = readout_text(frame.view, frame.pixel_scale)
        metrics = QFontMetricsF(font)
        box = QRectF(
            8,
            frame.height - metrics.height() - 14,
            metrics.horizontalAdvance(text) + 14,
            metrics.height() + 6,
        )
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(_PANEL)
        painter.drawRoundedRect(box, 4, 4)
        painter.setPen(_TEXT)
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)


class GridLabels:
    """Degrees on the grid lines the shader draws: yaw along the horizon, pitch up the middle."""

    def __init__(self) -> None:
        self.enabled = False

    def visible(self) -> bool:
        return self.enabled

    def paint(self, painter: QPainter, frame: OverlayFrame) -> None:
        font = QFont(painter.font())
        font.setPointSizeF(8.0)
        painter.setFont(font)
        for label in grid_labels(frame.view, frame.width, frame.height):
            # Yaw labels sit just above the horizon line, pitch labels right of the centre meridian.
            if label.kind == "meridian":
                offset = QPointF(0, -10) if frame.view.mode is not ViewMode.LITTLE_PLANET else QPointF(0, 0)
                colour = _HORIZON
            else:
                offset = QPointF(18, 0)
                colour = _PARALLEL
            _label(painter, label.text, QPointF(label.x, label.y) + offset, colour)


class DropZone:
    """The same highlight the rest of the window shows while a file is dragged over it."""

    def __init__(self) -> None:
        self.enabled = False

    def visible(self) -> bool:
        return self.enabled

    def paint(self, painter: QPainter, frame: OverlayFrame) -> None:
        paint_drop_zone(painter, QRectF(0, 0, frame.width, frame.height))
