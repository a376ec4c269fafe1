"""The mask brush on the sphere: strokes rasterised into an equirect uint8 mask, without Qt.

A brush is an angular radius (degrees on the sphere, so it covers the same part of the scene wherever it
is used) and a hardness. A stroke segment between two view directions is the set of directions within
the radius of the great-circle arc joining them: a continuous "capsule" on the sphere. Rasterising the
distance to the arc (rather than stamping dabs at intervals) leaves no gaps at any speed and no
scalloping with a soft brush. Long segments are split along the great circle into pieces no longer
than the radius so that each piece's bounding rows and columns stay small.

Only the bounding window of a piece is computed: the rows of its latitude range and the columns of its
longitude range, taken modulo the width, so a stroke across the 0/360° seam writes both edges, and a
piece whose cap reaches a pole takes every column of the polar rows (all longitudes meet there).

Equirect conventions are those of ``panorama.projection``: pixel centres at (x + 0.5, y + 0.5), the centre
column is yaw 0, the top row is pitch +90°.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

MIN_RADIUS_DEG = 0.2
MAX_RADIUS_DEG = 90.0


@dataclass(frozen=True)
class Brush:
    """``radius_deg``: angular radius; ``hardness`` 0..1: the fraction of the radius painted fully."""

    radius_deg: float = 8.0
    hardness: float = 0.7
    erase: bool = False

    def __post_init__(self) -> None:
        if not MIN_RADIUS_DEG <= self.radius_deg <= MAX_RADIUS_DEG:
            raise ValueError(
                f"brush radius must be {MIN_RADIUS_DEG}° to {MAX_RADIUS_DEG}° (got {self.radius_deg})"
            )
        if not 0.0 <= self.hardness <= 1.0:
            raise ValueError(f"brush hardness must be 0 to 1 (got {self.hardness})")


@dataclass(frozen=True)
class RowBand:
    """Rows ``top`` to ``bottom`` (exclusive) of the mask that an operation changed."""

    top: int
    bottom: int

    def union(self, other: RowBand | None) -> RowBand:
        if other is None:
            return self
        return RowBand(min(self.top, other.top), max(self.bottom, other.bottom))


def lonlat_to_direction(lon_deg: float, lat_deg: float) -> np.ndarray:
    lon, lat = math.radians(lon_deg), math.radians(lat_deg)
    return np.array([math.cos(lat) * math.sin(lon), math.sin(lat), math.cos(lat) * math.cos(lon)])


def direction_to_lonlat(direction: np.ndarray) -> tuple[float, float]:
    x, y, z = (float(c) for c in direction)
    norm = math.sqrt(x * x + y * y + z * z)
    return math.degrees(math.atan2(x, z)), math.degrees(math.asin(max(-1.0, min(1.0, y / norm))))


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if norm == 0.0 or not math.isfinite(norm):
        raise ValueError("a brush direction must be a non-zero finite vector")
    return np.asarray(vector, dtype=np.float64) / norm


def slerp_points(a: np.ndarray, b: np.ndarray, max_step_rad: float) -> list[np.ndarray]:
    """Points along the great circle from ``a`` to ``b`` (both included), at most ``max_step_rad`` apart."""
    a, b = _unit(a), _unit(b)
    angle = math.acos(max(-1.0, min(1.0, float(a @ b))))
    count = max(1, math.ceil(angle / max_step_rad))
    if angle < 1e-9:
        return [a, b]
    if math.pi - angle < 1e-6:
        # Antipodal ends have no unique great circle: go through any point a quarter turn away.
        helper = np.array([0.0, 1.0, 0.0]) if abs(a[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
        middle = _unit(helper - (helper @ a) * a)
        half = slerp_points(a, middle, max_step_rad)
        return half + slerp_points(middle, b, max_step_rad)[1:]
    sin_angle = math.sin(angle)
    points = []
    for i in range(count + 1):
        t = i / count
        points.append((math.sin((1 - t) * angle) * a + math.sin(t * angle) * b) / sin_angle)
    return points


class EquirectGrid:
    """Per-row and per-column trigonometry of a W×H equirect, computed once per mask size."""

    def __init__(self, width: int, height: int) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"mask size must be positive, got {width}×{height}")
        self.width, self.height = width, height
        lon = ((np.arange(width) + 0.5) / width - 0.5) * 2.0 * math.pi
        lat = (0.5 - (np.arange(height) + 0.5) / height) * math.pi
        self.lat = lat
        self.sin_lat = np.sin(lat).astype(np.float32)
        self.cos_lat = np.cos(lat).astype(np.float32)
        self.sin_lon = np.sin(lon).astype(np.float32)
        self.cos_lon = np.cos(lon).astype(np.float32)

    def row_of(self, lat_rad: float) -> float:
        """Continuous row coordinate (pixel centres at integer + 0.5) of a latitude."""
        return (0.5 - lat_rad / math.pi) * self.height

    def column_of(self, lon_rad: float) -> float:
        return (lon_rad / (2.0 * math.pi) + 0.5) * self.width

    def window(self, centre: np.ndarray, radius_rad: float) -> tuple[slice, list[slice]]:
        """Rows and column ranges (one, or two when the window wraps over the seam) that hold every
        pixel within ``radius_rad`` of ``centre``; one pixel of margin covers centres at the boundary."""
        lon, lat = (math.radians(v) for v in direction_to_lonlat(centre))
        top = max(0, math.floor(self.row_of(min(math.pi / 2, lat + radius_rad))) - 1)
        bottom = min(self.height, math.ceil(self.row_of(max(-math.pi / 2, lat - radius_rad))) + 1)
        rows = slice(top, bottom)
        if abs(lat) + radius_rad >= math.pi / 2 - 1e-9:
            return rows, [slice(0, self.width)]  # the cap holds a pole: every longitude meets there
        # The widest longitude extent of a cap: sin(Δλ) = sin(r) / cos(φ).
        half = math.asin(min(1.0, math.sin(radius_rad) / math.cos(lat)))
        first = math.floor(self.column_of(lon - half)) - 1
        last = math.ceil(self.column_of(lon + half)) + 2
        if last - first >= self.width:
            return rows, [slice(0, self.width)]
        if first < 0:
            return rows, [slice(first % self.width, self.width), slice(0, last)]
        if last > self.width:
            return rows, [slice(first, self.width), slice(0, last - self.width)]
        return rows, [slice(first, last)]

    def projector(self, rows: slice, columns: slice) -> WindowProjector:
        return WindowProjector(
            self.cos_lat[rows][:, None],
            self.sin_lat[rows][:, None],
            self.sin_lon[columns][None, :],
            self.cos_lon[columns][None, :],
        )


class WindowProjector:
    """Dot products of the pixel directions in a window with fixed vectors, without the directions.

    A pixel's direction is (cos φ sin λ, sin φ, cos φ cos λ), so its dot product with v is the outer
    product cos φ · (v_x sin λ + v_z cos λ) plus v_y sin φ: one multiply and one add per pixel, all numpy
    ufuncs, which release the GIL (a matrix product of the directions held it for 150 ms on an 8K mask
    and stalled the UI thread).
    """

    def __init__(self, cos_lat: np.ndarray, sin_lat: np.ndarray, sin_lon: np.ndarray, cos_lon: np.ndarray):
        self._cos_lat, self._sin_lat, self._sin_lon, self._cos_lon = cos_lat, sin_lat, sin_lon, cos_lon
        self.shape = (cos_lat.shape[0], sin_lon.shape[1])

    def dot(self, v: np.ndarray) -> np.ndarray:
        # Python floats keep the float32 arrays float32 (numpy float64 scalars would promote them).
        horizontal = self._sin_lon * float(v[0]) + self._cos_lon * float(v[2])
        return self._cos_lat * horizontal + self._sin_lat * float(v[1])


def arc_closeness(window: WindowProjector, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of the angular distance from each pixel of ``window`` to the great-circle arc a→b (< π);
    cosines avoid an arccos per pixel."""
    cross = np.cross(a, b)
    length = float(np.linalg.norm(cross))
    if length < 1e-9:
        return np.clip(window.dot(a), -1.0, 1.0)
    normal = cross / length
    # A direction projects inside the arc when it lies on b's side of the plane through a and the
    # normal (towards_b at a), and on a's side of the plane through b and the normal.
    inside = (window.dot(np.cross(normal, a)) >= 0) & (window.dot(np.cross(b, normal)) >= 0)
    dot_n = window.dot(normal)
    to_circle = np.sqrt(np.clip(1.0 - dot_n * dot_n, 0.0, 1.0))
    ends = np.maximum(window.dot(a), window.dot(b))
    return np.clip(np.where(inside, to_circle, ends), -1.0, 1.0)


def brush_alpha(closeness: np.ndarray, radius_rad: float, hardness: float) -> np.ndarray:
    """Coverage 0..1 from the cosine of the angular distance: 1 within ``hardness·radius``, then a
    smoothstep to 0 at the radius, measured along the chord (within 1% of the angle up to 45°)."""
    chord = np.sqrt(np.maximum(2.0 - 2.0 * closeness, 0.0))
    outer = 2.0 * math.sin(radius_rad / 2.0)
    inner = 2.0 * math.sin(hardness * radius_rad / 2.0)
    if outer - inner < 1e-9:
        return (chord <= outer).astype(np.float32)
    t = np.clip((outer - chord) * (1.0 / (outer - inner)), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def paint_segment(
    mask: np.ndarray, grid: EquirectGrid, a: np.ndarray, b: np.ndarray, brush: Brush
) -> RowBand:
    """Paint (or erase) the capsule around the arc a→b into ``mask`` in place; return the rows touched."""
    radius = math.radians(brush.radius_deg)
    points = slerp_points(a, b, radius)
    band: RowBand | None = None
    for start, end in itertools.pairwise(points):
        half_length = 0.5 * math.acos(max(-1.0, min(1.0, float(start @ end))))
        middle = start + end
        centre = _unit(middle) if np.linalg.norm(middle) > 1e-9 else start
        # The piece's capsule lies inside the cap around its midpoint of radius r + L/2.
        rows, column_ranges = grid.window(centre, radius + half_length)
        if rows.stop <= rows.start:
            continue
        for columns in column_ranges:
            alpha = brush_alpha(
                arc_closeness(grid.projector(rows, columns), start, end), radius, brush.hardness
            )
            window = mask[rows, columns]  # a view: updated in place
            if brush.erase:
                np.minimum(window, np.rint(255.0 - 255.0 * alpha).astype(np.uint8), out=window)
            else:
                np.maximum(window, np.rint(255.0 * alpha).astype(np.uint8), out=window)
        band = RowBand(rows.start, rows.stop).union(band)
    return band if band is not None else RowBand(0, 0)


def paint_dab(mask: np.ndarray, grid: EquirectGrid, centre: np.ndarray, brush: Brush) -> RowBand:
    """A single spherical cap (a click without a drag)."""
    return paint_segment(mask, grid, centre, centre, brush)
