"""Square pinhole views that cover the whole sphere, and the mapping between them and world directions.

The frame is the one of ``panorama/projection.py`` (+Y up, +Z forward at yaw 0, +X right); a view's
camera-space ray for pixel (i, j) of an S×S view with horizontal field of view f is
    ((2(i + 0.5)/S − 1)·tan(f/2), (1 − 2(j + 0.5)/S)·tan(f/2), 1)
turned into the world by R_yaw · R_pitch (``projection.perspective_directions``). A camera-space ray with
z = 1 has length L = |ray|, so a z-depth z in that view is the distance z·L along the ray.

Layout: the six cube faces, each widened by a margin on every side (default 10°, so 110° views). The margin
gives every pair of neighbouring faces a band about 20° wide seen by both, which is where the per-view
scale and shift are aligned; the blend weights fall to zero at a view's border, so no view edge shows.
Six views at 110° cost 6 × 518² model pixels for any panorama size (Depth Anything V2 runs at 518² per
view); docs/depth-3d.md has the measured cost against one forward pass over the panorama's pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dit360_desktop.panorama.projection import equirect_to_perspective

__all__ = [
    "DEFAULT_MARGIN_DEGREES",
    "DEFAULT_VIEW_SIZE",
    "View",
    "cube_views",
]

DEFAULT_MARGIN_DEGREES = 10.0
# Depth Anything V2's training and processor size (a multiple of its 14-pixel patches).
DEFAULT_VIEW_SIZE = 518


@dataclass(frozen=True)
class View:
    yaw_deg: float
    pitch_deg: float
    fov_deg: float
    size: int

    @property
    def tan_half(self) -> float:
        return math.tan(math.radians(self.fov_deg) / 2.0)

    @property
    def rotation(self) -> np.ndarray:
        """Camera → world (3×3): R_yaw · R_pitch, as ``projection._view_rays`` turns its rays."""
        p, a = math.radians(self.pitch_deg), math.radians(self.yaw_deg)
        r_pitch = np.array(
            [[1.0, 0.0, 0.0], [0.0, math.cos(p), math.sin(p)], [0.0, -math.sin(p), math.cos(p)]]
        )
        r_yaw = np.array([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0], [-math.sin(a), 0.0, math.cos(a)]])
        return r_yaw @ r_pitch

    def camera_rays(self) -> np.ndarray:
        """(S, S, 3) camera-space rays with z = 1, rows top to bottom."""
        t = self.tan_half
        c = ((np.arange(self.size) + 0.5) * (2.0 / self.size) - 1.0) * t
        x = np.broadcast_to(c[None, :], (self.size, self.size))
        y = np.broadcast_to(-c[:, None], (self.size, self.size))
        return np.stack([x, y, np.ones_like(x)], axis=-1)

    def world_rays(self) -> np.ndarray:
        """(S, S, 3) world rays of the pixel centres, not normalised (camera z = 1)."""
        return self.camera_rays() @ self.rotation.T

    def ray_lengths(self) -> np.ndarray:
        """(S, S) length of each pixel's z = 1 ray: distance = z-depth × this."""
        return np.linalg.norm(self.camera_rays(), axis=-1)

    def project(self, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Where world ``directions`` (..., 3) land in this view.

        Returns (column, row) as continuous pixel coordinates (pixel centres at integers), the ray length
        L of the landing point, and the normalised position n = max(|x|, |y|)/tan(f/2), which is < 1
        inside the view and ≥ 1 outside or behind it.
        """
        cam = np.asarray(directions, dtype=np.float64) @ self.rotation
        z = cam[..., 2]
        front = z > 1e-9
        safe_z = np.where(front, z, 1.0)
        x = cam[..., 0] / safe_z
        y = cam[..., 1] / safe_z
        t = self.tan_half
        column = (x / t + 1.0) * (self.size / 2.0) - 0.5
        row = (1.0 - y / t) * (self.size / 2.0) - 0.5
        length = np.sqrt(x * x + y * y + 1.0)
        n = np.where(front, np.maximum(np.abs(x), np.abs(y)) / t, np.inf)
        return column, row, length, n

    def render(self, pixels: np.ndarray) -> np.ndarray:
        """This view of an equirect panorama (uint8 stays uint8)."""
        return equirect_to_perspective(
            pixels, self.yaw_deg, self.pitch_deg, self.fov_deg, self.size, self.size
        )


def cube_views(size: int = DEFAULT_VIEW_SIZE, margin_deg: float = DEFAULT_MARGIN_DEGREES) -> list[View]:
    """The six cube faces (front, right, back, left, up, down), each ``90 + 2·margin`` degrees wide."""
    if not 0.0 < margin_deg < 40.0:
        raise ValueError(f"the view margin must be between 0 and 40 degrees (got {margin_deg})")
    if size < 8:
        raise ValueError(f"views must be at least 8 pixels (got {size})")
    fov = 90.0 + 2.0 * margin_deg
    around = [View(yaw, 0.0, fov, size) for yaw in (0.0, 90.0, 180.0, 270.0)]
    return [*around, View(0.0, 90.0, fov, size), View(0.0, -90.0, fov, size)]
