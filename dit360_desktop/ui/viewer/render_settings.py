"""What one frame of the viewer draws, as plain values: no OpenGL import, so it is cheap to use."""

from __future__ import annotations

import math
from dataclasses import dataclass

from dit360_desktop.ui.common.camera import CameraView, ViewMode, camera_basis

# A 16384-wide panorama would want ~5200 px faces (width/π keeps equator detail); 4096 keeps the
# cubemap at ~530 MB with mipmaps, which mid-range GPUs can spare.
FACE_SIZE_CAP = 4096
MIN_FACE_SIZE = 16
BACKGROUND = (0.067, 0.071, 0.082)
PROJECTIONS = {ViewMode.PERSPECTIVE: 0, ViewMode.SEAM: 0, ViewMode.LITTLE_PLANET: 1, ViewMode.FLAT: 2}
# view.frag's flat projection sampling the equirect texture itself (gl_flat.py) instead of the cubemap.
FLAT_SOURCE_PROJECTION = 3


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


def flat_texel_origin(
    settings: DrawSettings, width: int, height: int, image_size: tuple[int, int]
) -> tuple[int, int] | None:
    """The panorama texel under the top-left screen pixel when a flat view shows it 1:1, else None.

    1:1 means one screen pixel spans exactly one texel in both directions, which needs a 2:1
    panorama and a view exactly ``image_width`` pixels per 360°. Pixel j of the screen then shows
    texel column ``origin + j`` (modulo the width), row i shows texel row ``origin + i``.
    """
    image_width, image_height = image_size
    if settings.projection != PROJECTIONS[ViewMode.FLAT] or image_width != 2 * image_height:
        return None
    fov = math.degrees(2.0 * settings.half_extent)
    if abs(fov * image_width / 360.0 - width) > 1e-3:
        return None
    yaw, pitch = (math.degrees(a) for a in settings.flat_centre)
    # Pixel centre j + 0.5 sits at texel coordinate j + 0.5 + yaw·W/360 + (W - width)/2 (and alike
    # for rows, downwards from the top); the texel holding it is the floor.
    column = math.floor(yaw * image_width / 360.0 + (image_width - width) / 2.0 + 0.5 + 1e-9)
    row = math.floor((image_height - height) / 2.0 - pitch * image_height / 180.0 + 0.5 + 1e-9)
    return column, row
