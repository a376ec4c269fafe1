"""The placed photo's frame on the sphere: its outline and corner handles, drawn over the viewer.

The photo is a pinhole view (``panorama.placement``): its camera looks along the viewer's forward vector
for (yaw, pitch) (``camera.camera_basis``) and is rolled about that axis, positive roll counter-clockwise
as you look at it. A point (x, y) of the photo's image plane at unit distance is therefore the direction
forward + x·right' + y·up', with right' and up' the camera's right and up turned by the roll. The edges
of the plane are at x = ±tan(fov/2) and y = ±tan(fov/2)·h/w. The tests check the outline against the
footprint ``place_photo`` fills.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QPainter, QPen

from dit360_desktop.panorama.placement import MAX_FOV, MIN_FOV, Placement
from dit360_desktop.ui.common.camera import CameraView, ViewMode, camera_basis
from dit360_desktop.ui.common.overlay import OverlayFrame
from dit360_desktop.ui.common.screen import project

HANDLE_PX = 9.0  # half the side of a corner handle, and how near the pointer must be to take it
_EDGE_POINTS = 24


def photo_axes(placement: Placement) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(right, up, forward) of the photo's camera, roll included."""
    right, up, forward = camera_basis(placement.yaw, placement.pitch)
    roll = math.radians(placement.roll)
    turned_right = math.cos(roll) * right + math.sin(roll) * up
    turned_up = -math.sin(roll) * right + math.cos(roll) * up
    return turned_right, turned_up, forward


def _half_extents(placement: Placement, aspect: float) -> tuple[float, float]:
    """Half width and half height of the image plane at unit distance; ``aspect`` is height / width."""
    half_x = math.tan(math.radians(placement.fov) / 2.0)
    return half_x, half_x * aspect


def frame_directions(placement: Placement, aspect: float, per_edge: int = _EDGE_POINTS) -> np.ndarray:
    """Unit directions (N, 3) around the photo's border, corner to corner, closed (first = last)."""
    right, up, forward = photo_axes(placement)
    hx, hy = _half_extents(placement, aspect)
    t = np.linspace(-1.0, 1.0, per_edge, endpoint=False)
    xs = np.concatenate([t * hx, np.full(per_edge, hx), -t * hx, np.full(per_edge, -hx), [-hx]])
    ys = np.concatenate([np.full(per_edge, hy), -t * hy, np.full(per_edge, -hy), t * hy, [hy]])
    points = forward[None, :] + xs[:, None] * right[None, :] + ys[:, None] * up[None, :]
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def corner_directions(placement: Placement, aspect: float) -> np.ndarray:
    """The four corners (4, 3): top left, top right, bottom right, bottom left."""
    right, up, forward = photo_axes(placement)
    hx, hy = _half_extents(placement, aspect)
    corners = [forward + sx * hx * right + sy * hy * up for sx, sy in ((-1, 1), (1, 1), (1, -1), (-1, -1))]
    return np.array([c / np.linalg.norm(c) for c in corners])


def fov_reaching(placement: Placement, aspect: float, direction: np.ndarray) -> float:
    """The horizontal FOV that puts the photo's corners at ``direction``'s angle from its centre."""
    _, _, forward = photo_axes(placement)
    cos_angle = float(np.clip(np.dot(direction, forward) / np.linalg.norm(direction), -1.0, 1.0))
    angle = math.acos(cos_angle)
    if angle >= math.pi / 2 - 1e-6:
        return MAX_FOV
    # The corner is at atan(hx·sqrt(1 + aspect²)) from the centre.
    half_x = math.tan(angle) / math.sqrt(1.0 + aspect * aspect)
    return min(MAX_FOV, max(MIN_FOV, math.degrees(2.0 * math.atan(half_x))))


def to_lonlat(directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.arctan2(directions[:, 0], directions[:, 2]), np.arcsin(np.clip(directions[:, 1], -1.0, 1.0))


def screen_corners(view: CameraView, placement: Placement, aspect: float, width: float, height: float):
    """Screen positions of the corners that are in view: a list of (index, x, y)."""
    xs, ys, shown = project(view, *to_lonlat(corner_directions(placement, aspect)), width, height)
    return [(i, float(xs[i]), float(ys[i])) for i in range(4) if shown[i]]


def paint_frame(painter: QPainter, frame: OverlayFrame, placement: Placement, aspect: float) -> None:
    """The outline and the corner handles. Opaque pens and fills only: the viewer's GL surface has no
    stencil buffer, which Qt's GL paint engine needs for anything translucent but rectangles."""
    xs, ys, shown = project(
        frame.view, *to_lonlat(frame_directions(placement, aspect)), frame.width, frame.height
    )
    pieces: list[list[QPointF]] = [[]]
    for i in range(len(xs)):
        jump = i > 0 and frame.view.mode is ViewMode.FLAT and abs(xs[i] - xs[i - 1]) > frame.width / 2
        if (not shown[i] or jump) and pieces[-1]:
            pieces.append([])
        if shown[i]:
            pieces[-1].append(QPointF(float(xs[i]), float(ys[i])))
    for pen in (QPen(QColor(20, 20, 24), 3.0), QPen(QColor(255, 214, 90), 1.5)):
        painter.setPen(pen)
        for piece in pieces:
            if len(piece) > 1:
                painter.drawPolyline(piece)
    painter.setPen(QPen(QColor(20, 20, 24), 1.0))
    painter.setBrush(QColor(255, 214, 90))
    for _, x, y in screen_corners(frame.view, placement, aspect, frame.width, frame.height):
        painter.drawRect(QRectF(x - HANDLE_PX / 2, y - HANDLE_PX / 2, HANDLE_PX, HANDLE_PX))
