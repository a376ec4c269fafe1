"""What one frame of the viewer draws, as plain values: no OpenGL import, so it is cheap to use."""

from __future__ import annotations

import math
from dataclasses import dataclass

from dit360_desktop.ui.viewer.camera import CameraView, ViewMode, camera_basis

# A 16384-wide panorama would want ~5200 px faces (width/π keeps equator detail); 4096 keeps the
# cubemap at ~530 MB with mipmaps, which mid-range GPUs can spare.
FACE_SIZE_CAP = 4096
MIN_FACE_SIZE = 16
BACKGROUND = (0.067, 0.071, 0.082)
PROJECTIONS = {ViewMode.PERSPECTIVE: 0, ViewMode.SEAM: 0, ViewMode.LITTLE_PLANET: 1, ViewMode.FLAT: 2}


@dataclass(frozen=True)
class DrawSettings:
    """Uniform values for one frame of ``view.frag``."""

    projection: int
    right: tuple[float, float, float]
    up: tuple[float, float, float]
    forward: tuple[float, float, float]
    half_extent: float
    flat_centre: tuple[float, float]
    grid: bool
    seam: bool


def draw_settings(view: CameraView, *, fov: float | None = None, grid: bool = False) -> DrawSettings:
    """Translate a camera view into shader uniforms (same formulas as camera.view_rays)."""
    fov_rad = math.radians(view.fov if fov is None else fov)
    projection = PROJECTIONS[view.mode]
    if projection == 0:
        half_extent = math.tan(fov_rad / 2.0)
    elif projection == 1:
        half_extent = 2.0 * math.tan(fov_rad / 4.0)
    else:
        half_extent = fov_rad / 2.0
    right, up, forward = (tuple(float(c) for c in v) for v in camera_basis(view.yaw, view.pitch))
    return DrawSettings(
        projection=projection,
        right=right,
        up=up,
        forward=forward,
        half_extent=half_extent,
        flat_centre=(math.radians(view.yaw), math.radians(view.pitch)),
        grid=grid,
        seam=view.mode is ViewMode.SEAM,
    )


def cube_face_size(width: int, limit: int) -> int:
    """Face edge that keeps the equator's pixel density: 90° of face centre ≈ width/4 · 4/π texels."""
    return int(max(MIN_FACE_SIZE, min(math.ceil(width / math.pi), FACE_SIZE_CAP, limit)))
