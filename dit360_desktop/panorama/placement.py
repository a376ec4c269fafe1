"""Photo → 360°: put a perspective photo on the sphere, and mark everything else for outpainting.

The photo is a pinhole view with the viewer's conventions (``projection.perspective_directions``): yaw 0
looks at the centre column and positive yaw turns towards larger x, positive pitch looks up, and the field
of view is horizontal. Roll turns the photo about its own centre; positive roll turns it counter-clockwise
as you look at it. Each canvas pixel looks up its direction in the photo (the inverse gnomonic projection),
bilinearly, after the photo is shrunk with a Lanczos filter wherever it has more pixels per degree than the
canvas, so a 24-megapixel photo does not alias.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image

from dit360_desktop.panorama.errors import ImageLoadError, RequestError
from dit360_desktop.panorama.mask import feather_alpha
from dit360_desktop.panorama.projection import equirect_directions

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_FOV",
    "MAX_FOV",
    "MIN_FOV",
    "Placement",
    "check_fov",
    "estimate_fov",
    "fov_from_35mm",
    "photo_rays_to_canvas",
    "place_photo",
]

DEFAULT_FOV = 60.0
MIN_FOV, MAX_FOV = 10.0, 170.0
# The diagonal of a 36 × 24 mm frame: a "35 mm equivalent" focal length is relative to it.
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)
_EXIF_IFD = 0x8769
_FOCAL_LENGTH_35MM = 0xA405


@dataclass(frozen=True)
class Placement:
    """Where a photo sits on the sphere; angles in degrees, ``fov`` horizontal."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    fov: float = DEFAULT_FOV


def check_fov(fov: float) -> None:
    if isinstance(fov, bool) or not isinstance(fov, (int, float)) or not MIN_FOV <= fov <= MAX_FOV:
        raise RequestError(
            "fov", f"the horizontal field of view must be between {MIN_FOV:g}° and {MAX_FOV:g}° (got {fov!r})"
        )


def fov_from_35mm(focal_35mm: float, width: int, height: int) -> float:
    """Horizontal FOV of a photo whose lens is ``focal_35mm`` mm in 35 mm-equivalent terms.

    The equivalence matches diagonals (CIPA DC-008, FocalLengthIn35mmFilm), so the photo's width in
    equivalent millimetres is the full-frame diagonal times width / diagonal, whatever its aspect.
    """
    if focal_35mm <= 0:
        raise ValueError(f"focal length must be positive (got {focal_35mm})")
    equivalent_width = FULL_FRAME_DIAGONAL_MM * width / math.hypot(width, height)
    return math.degrees(2.0 * math.atan(equivalent_width / (2.0 * focal_35mm)))


def estimate_fov(source: str | os.PathLike[str] | Image.Image | Mapping[int, object]) -> tuple[float, str]:
    """The photo's horizontal FOV from its EXIF 35 mm-equivalent focal length, else ``DEFAULT_FOV``.

    ``source`` is a file, an opened image, or an EXIF mapping (then the size must come with the image, so a
    mapping gives the 3:2 full-frame answer). Returns (degrees, a sentence saying where it came from).
    """
    size: tuple[int, int] | None = None
    exif: Mapping[int, object] | None
    if isinstance(source, Mapping):
        exif = source
    elif isinstance(source, Image.Image):
        exif, size = _exif_of(source), _upright_size(source)
    else:
        try:
            with Image.open(source) as image:
                exif, size = _exif_of(image), _upright_size(image)
        except (OSError, ValueError, SyntaxError) as e:
            raise ImageLoadError(f"{os.fspath(source)} could not be read for its EXIF data ({e}).") from e
    focal = _positive_number(exif.get(_FOCAL_LENGTH_35MM)) if exif else None
    if focal is None:
        return DEFAULT_FOV, f"no 35 mm-equivalent focal length in the EXIF data; using {DEFAULT_FOV:g}°"
    width, height = size if size is not None else (3, 2)
    fov = fov_from_35mm(focal, width, height)
    clamped = min(max(fov, MIN_FOV), MAX_FOV)
    return clamped, f"{focal:g} mm (35 mm equivalent) in the EXIF data gives {clamped:.1f}°"


def _exif_of(image: Image.Image) -> Mapping[int, object]:
    exif = image.getexif()
    merged: dict[int, object] = dict(exif)
    try:
        merged.update(exif.get_ifd(_EXIF_IFD))
    except (KeyError, ValueError, OSError):
        pass
    return merged


def _upright_size(image: Image.Image) -> tuple[int, int]:
    # EXIF orientations 5–8 turn the picture a quarter: the loader shows it with width and height swapped.
    orientation = image.getexif().get(0x0112, 1)
    return (image.height, image.width) if orientation in (5, 6, 7, 8) else image.size


def _positive_number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if number > 0 and math.isfinite(number) else None


def _world_to_camera(directions: np.ndarray, placement: Placement) -> np.ndarray:
    """Camera coordinates (x right, y up, z forward) of world directions: the inverse of
    world = R_yaw · R_pitch · R_roll · camera, with R_yaw and R_pitch as in ``projection.py``."""
    yaw, pitch, roll = (math.radians(a) for a in (placement.yaw, placement.pitch, placement.roll))
    x, y, z = directions[..., 0], directions[..., 1], directions[..., 2]
    # R_yaw^T
    x, z = x * math.cos(yaw) - z * math.sin(yaw), x * math.sin(yaw) + z * math.cos(yaw)
    # R_pitch^T
    y, z = y * math.cos(pitch) - z * math.sin(pitch), y * math.sin(pitch) + z * math.cos(pitch)
    # R_roll^T, R_roll · (x, y, z) = (x·cos r − y·sin r, x·sin r + y·cos r, z)
    x, y = x * math.cos(roll) + y * math.sin(roll), -x * math.sin(roll) + y * math.cos(roll)
    return np.stack([x, y, z], axis=-1)


def photo_rays_to_canvas(
    placement: Placement, photo_width: int, photo_height: int, width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every canvas pixel: its continuous photo pixel coordinates (col, row) and whether the photo
    plane is in front (z > 0). Pixel centres follow ``perspective_directions`` exactly."""
    camera = _world_to_camera(equirect_directions(width, height), placement)
    tan_x = math.tan(math.radians(placement.fov) / 2.0)
    tan_y = tan_x * photo_height / photo_width
    z = camera[..., 2]
    front = z > 1e-9
    safe_z = np.where(front, z, 1.0)
    col = (camera[..., 0] / safe_z / tan_x + 1.0) * (photo_width / 2.0) - 0.5
    row = (1.0 - camera[..., 1] / safe_z / tan_y) * (photo_height / 2.0) - 0.5
    return col, row, front


def _prefilter(photo: np.ndarray, fov: float, canvas_width: int) -> np.ndarray:
    """Shrink the photo (Lanczos) when it has more pixels per radian at its centre than the canvas."""
    photo_h, photo_w = photo.shape[:2]
    photo_density = (photo_w / 2.0) / math.tan(math.radians(fov) / 2.0)
    canvas_density = canvas_width / (2.0 * math.pi)
    scale = canvas_density / photo_density
    if scale >= 1.0:
        return photo
    size = (max(2, round(photo_w * scale)), max(2, round(photo_h * scale)))
    return np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.LANCZOS))


def _bilinear(photo: np.ndarray, col: np.ndarray, row: np.ndarray) -> np.ndarray:
    photo_h, photo_w = photo.shape[:2]
    src = photo.astype(np.float32)
    col = np.clip(col, 0.0, photo_w - 1.0)
    row = np.clip(row, 0.0, photo_h - 1.0)
    c0 = np.minimum(np.floor(col).astype(np.int64), photo_w - 2) if photo_w > 1 else np.zeros_like(col, int)
    r0 = np.minimum(np.floor(row).astype(np.int64), photo_h - 2) if photo_h > 1 else np.zeros_like(row, int)
    fc = (col - c0)[..., None].astype(np.float32)
    fr = (row - r0)[..., None].astype(np.float32)
    c1 = np.minimum(c0 + 1, photo_w - 1)
    r1 = np.minimum(r0 + 1, photo_h - 1)
    top = src[r0, c0] * (1.0 - fc) + src[r0, c1] * fc
    bottom = src[r1, c0] * (1.0 - fc) + src[r1, c1] * fc
    return top * (1.0 - fr) + bottom * fr


def place_photo(
    photo: np.ndarray,
    *,
    yaw: float = 0.0,
    pitch: float = 0.0,
    roll: float = 0.0,
    fov: float = DEFAULT_FOV,
    width: int = 2048,
    height: int = 1024,
    feather: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """Place an (h, w, 3) uint8 photo on a ``width``×``height`` equirectangular canvas.

    Returns (canvas, mask): the canvas is uint8 RGB with the photo inside its footprint and the photo's
    mean colour elsewhere; the mask is uint8, 255 (regenerate) outside the footprint, falling to 0 over
    ``feather`` px inside it so the outpainting blends into the photo's edge.
    """
    check_fov(fov)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"expected an (h, w, 3) uint8 photo, got {photo.shape} {photo.dtype}")
    if width != 2 * height:
        raise RequestError("width", f"the canvas must be 2:1 (got {width}×{height})")
    placement = Placement(yaw, pitch, roll, float(fov))
    photo = _prefilter(photo, placement.fov, width)
    photo_h, photo_w = photo.shape[:2]
    col, row, front = photo_rays_to_canvas(placement, photo_w, photo_h, width, height)
    # Signed distance to the photo's border in photo pixels (> 0 inside); the footprint's edge gets one
    # pixel of coverage antialiasing.
    inside = np.minimum.reduce([col + 0.5, photo_w - 0.5 - col, row + 0.5, photo_h - 0.5 - row])
    coverage = np.where(front, np.clip(inside + 0.5, 0.0, 1.0), 0.0).astype(np.float32)[..., None]
    fill = photo.reshape(-1, 3).astype(np.float32).mean(axis=0)
    sampled = _bilinear(photo, col, row)
    canvas = sampled * coverage + fill * (1.0 - coverage)
    canvas = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    # Every pixel the photo does not fully cover is regenerated, then the ramp runs into the photo.
    outside = (coverage[..., 0] < 1.0).astype(np.float32)
    mask = feather_alpha(outside, feather)
    return canvas, np.clip(np.rint(mask * 255.0), 0, 255).astype(np.uint8)
