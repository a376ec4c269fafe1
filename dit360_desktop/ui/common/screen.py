"""Where directions land on the screen: the forward half of ``camera.view_rays``, for overlays and tools.

``project`` is the exact inverse of ``view_rays`` (the tests round-trip them), so a label, a brush
outline or a marker drawn at ``project(lon, lat)`` sits on the pixel that shows that direction.
Screen coordinates are continuous: pixel (i, j) covers x in [j, j + 1), y in [i, i + 1), y down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dit360_desktop.ui.common.camera import CameraView, ViewMode, camera_basis, direction_from_lonlat

if TYPE_CHECKING:
    import numpy as np

# The grid the shader draws (view.frag): parallels every 15°, meridians every 30°.
PARALLEL_STEP = 15
MERIDIAN_STEP = 30


def half_extent(view: CameraView) -> float:
    """Half the screen width on the projection plane (as render_settings.draw_settings computes it)."""
    half = math.radians(view.fov) / 2.0
    if view.mode is ViewMode.FLAT:
        return half
    if view.mode is ViewMode.LITTLE_PLANET:
        return 2.0 * math.tan(half / 2.0)
    return math.tan(half)


def project(
    view: CameraView, lon: np.ndarray, lat: np.ndarray, width: float, height: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Screen (x, y) of the directions at longitude/latitude (radians), and whether each is shown."""
    import numpy as np

    lon, lat = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    extent = half_extent(view)
    if view.mode is ViewMode.FLAT:
        # Longitudes repeat every 2π; take the copy nearest the centre of the view.
        px = np.mod(lon - math.radians(view.yaw) + math.pi, 2.0 * math.pi) - math.pi
        py = lat - math.radians(view.pitch)
        shown = np.ones(px.shape, dtype=bool)
    else:
        right, up, forward = camera_basis(view.yaw, view.pitch)
        d = direction_from_lonlat(lon, lat)
        x, y, z = d @ right, d @ up, d @ forward
        if view.mode is ViewMode.LITTLE_PLANET:
            # Stereographic: the plane point is 2·(x, y)/(1 + z); the antipode (z = -1) is at infinity.
            denominator = 1.0 + z
            shown = denominator > 1e-6
        else:
            denominator = z
            shown = z > 1e-6
        safe = np.where(shown, denominator, 1.0)
        scale = 2.0 if view.mode is ViewMode.LITTLE_PLANET else 1.0
        px, py = scale * x / safe, scale * y / safe
    sx = (px / extent + 1.0) * 0.5 * width
    sy = (1.0 - py / (extent * height / width)) * 0.5 * height
    shown = shown & (sx >= 0) & (sx <= width) & (sy >= 0) & (sy <= height)
    return sx, sy, shown


@dataclass(frozen=True)
class GridLabel:
    text: str
    x: float
    y: float
    kind: str  # "meridian" (a yaw) or "parallel" (a pitch)


def _degrees(value: int, *, signed: bool) -> str:
    sign = "+" if signed and value > 0 else "−" if value < 0 else ""
    return f"{sign}{abs(value)}°"


def grid_labels(view: CameraView, width: float, height: float, margin: float = 14.0) -> list[GridLabel]:
    """One label per visible grid line of the shader's grid.

    Meridians (yaw) are labelled where they are nearest the horizon, so the labels run along it;
    parallels (pitch) where they are nearest the meridian the view faces, so they run up the middle.
    Points within ``margin`` of the edge are not used, so labels never sit half off screen.
    """
    import numpy as np

    labels: list[GridLabel] = []
    lats = np.radians(np.arange(-84.0, 84.5, 1.0))
    for yaw in range(-150, 181, MERIDIAN_STEP):
        x, y, shown = project(view, np.full(lats.shape, math.radians(yaw)), lats, width, height)
        shown &= (x >= margin) & (x <= width - margin) & (y >= margin) & (y <= height - margin)
        if shown.any():
            i = np.flatnonzero(shown)[np.argmin(np.abs(lats[shown]))]
            labels.append(GridLabel(_degrees(yaw, signed=False), float(x[i]), float(y[i]), "meridian"))
    offsets = np.radians(np.arange(-180.0, 180.0, 1.0))
    lons = math.radians(view.yaw) + offsets
    for pitch in range(-75, 76, PARALLEL_STEP):
        if pitch == 0:
            continue  # the horizon is the amber line, and the yaw labels sit on it
        x, y, shown = project(view, lons, np.full(lons.shape, math.radians(pitch)), width, height)
        shown &= (x >= margin) & (x <= width - margin) & (y >= margin) & (y <= height - margin)
        if shown.any():
            i = np.flatnonzero(shown)[np.argmin(np.abs(offsets[shown]))]
            labels.append(GridLabel(_degrees(pitch, signed=True), float(x[i]), float(y[i]), "parallel"))
    return labels
