"""The mask brush as a viewer tool: drags paint on the sphere; an outline shows the brush under the cursor.

Pointer positions become view directions with the camera's own ray maths (``camera.direction_at``), so a
stroke lands exactly on what the pixel under the cursor shows, in every view mode. The strokes are painted
by a ``StrokePainter`` thread; its changes come back to the UI thread through ``rows_changed``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QPointF, Signal
from PySide6.QtGui import QColor, QPainter, QPen

from dit360_desktop.ui.common.camera import CameraView, ViewMode, direction_at
from dit360_desktop.ui.common.overlay import OverlayFrame
from dit360_desktop.ui.common.screen import project
from dit360_desktop.ui.painting.brush import Brush, RowBand
from dit360_desktop.ui.painting.mask_model import MaskModel
from dit360_desktop.ui.painting.stroke_thread import StrokePainter

_OUTLINE_POINTS = 72


class MaskPaintTool(QObject):
    """A ``PointerTool`` for ``ViewerInput``: paints ``model`` with ``brush``."""

    rows_changed = Signal(int, int)  # top, bottom: the mask rows a stroke changed (UI thread)
    stroke_finished = Signal()
    outline_changed = Signal()

    def __init__(
        self,
        model: MaskModel,
        view: Callable[[], CameraView],
        viewport: Callable[[], tuple[int, int]],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.brush = Brush()
        self._view = view
        self._viewport = viewport
        self.painter = StrokePainter(model)
        self._unsubscribe = model.add_listener(self._on_rows)  # called on the painter thread
        self._cursor: np.ndarray | None = None
        self._stroking = False

    # PointerTool -------------------------------------------------------------------------------------

    def press(self, x: float, y: float) -> bool:
        direction = self._direction(x, y)
        if direction is None:
            return True  # outside the sphere (flat view margins): a drag there paints nothing
        self.painter.begin(direction, self.brush)
        self._stroking = True
        self._cursor = direction
        return True

    def move(self, x: float, y: float) -> None:
        direction = self._direction(x, y)
        self._cursor = direction
        if direction is not None and self._stroking:
            self.painter.move(direction)
        elif direction is not None:
            self.painter.begin(direction, self.brush)  # came back onto the sphere
            self._stroking = True
        self.outline_changed.emit()

    def release(self) -> None:
        if self._stroking:
            self.painter.end()
        self._stroking = False
        self.stroke_finished.emit()

    def hover(self, x: float, y: float) -> None:
        self._cursor = self._direction(x, y)
        self.outline_changed.emit()

    def wheel(self, angle_delta_y: float) -> bool:
        return False  # the wheel keeps zooming; the brush size has its own keys ([ and ])

    # Whole-mask commands wait for strokes in flight ----------------------------------------------------

    def flush(self) -> None:
        self.painter.flush()

    def leave(self) -> None:
        self._cursor = None
        self.outline_changed.emit()

    def close(self) -> None:
        self.painter.close()
        self._unsubscribe()

    def _direction(self, x: float, y: float) -> np.ndarray | None:
        width, height = self._viewport()
        return direction_at(self._view(), x, y, width, height)

    def _on_rows(self, band: RowBand) -> None:
        self.rows_changed.emit(band.top, band.bottom)

    # The outline overlay (viewer.add_overlay) ----------------------------------------------------------

    def visible(self) -> bool:
        return self._cursor is not None

    def paint(self, painter: QPainter, frame: OverlayFrame) -> None:
        if self._cursor is None:
            return
        lon, lat = cap_outline(self._cursor, math.radians(self.brush.radius_deg))
        xs, ys, shown = project(frame.view, lon, lat, frame.width, frame.height)
        # Separate polylines where the circle leaves the view (or wraps in the flat view). Opaque pens
        # and polylines only: the viewer's GL surface has no stencil buffer, which Qt's GL paint engine
        # needs for translucent strokes and path fills (it would fill the bounding box instead).
        pieces: list[list[QPointF]] = [[]]
        for i in range(len(xs)):
            jump = i > 0 and frame.view.mode is ViewMode.FLAT and abs(xs[i] - xs[i - 1]) > frame.width / 2
            if (not shown[i] or jump) and pieces[-1]:
                pieces.append([])
            if shown[i]:
                pieces[-1].append(QPointF(float(xs[i]), float(ys[i])))
        colour = QColor(255, 255, 255) if not self.brush.erase else QColor(120, 200, 255)
        for pen in (QPen(QColor(20, 20, 24), 3.0), QPen(colour, 1.4)):
            painter.setPen(pen)
            for piece in pieces:
                if len(piece) > 1:
                    painter.drawPolyline(piece)


def cap_outline(
    centre: np.ndarray, radius_rad: float, count: int = _OUTLINE_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """Longitudes and latitudes (radians) of points around the circle at ``radius_rad`` from ``centre``
    (closed: the first point repeats at the end)."""
    centre = np.asarray(centre, dtype=np.float64)
    centre = centre / np.linalg.norm(centre)
    helper = np.array([0.0, 1.0, 0.0]) if abs(centre[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    first = np.cross(centre, helper)
    first /= np.linalg.norm(first)
    second = np.cross(centre, first)
    angles = np.linspace(0.0, 2.0 * math.pi, count + 1)
    points = math.cos(radius_rad) * centre[None, :] + math.sin(radius_rad) * (
        np.cos(angles)[:, None] * first + np.sin(angles)[:, None] * second
    )
    lon = np.arctan2(points[:, 0], points[:, 2])
    lat = np.arcsin(np.clip(points[:, 1], -1.0, 1.0))
    return lon, lat
