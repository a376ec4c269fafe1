"""Equirectangular ↔ cubemap ↔ perspective resampling, yaw roll and the seam Discontinuity Score.

Conventions (shared with the GL viewer; see docs/imageio-and-projection.md):

World axes: +Y up, +Z forward (yaw 0, the centre column of the panorama), +X right (yaw +90°). This frame
is left-handed, like Unity's and like the OpenGL/RenderMan cube-map frame, which is why the cube faces below
come out unmirrored when viewed from inside.

Equirectangular pixel → direction, for an image W wide and H high (W = 2H for a full panorama):
    u = (x + 0.5) / W,  v = (y + 0.5) / H                     (pixel centres, u, v in (0, 1))
    yaw   = (u − 0.5) · 360°                                   (−180° at the left edge, +180° at the right)
    pitch = (0.5 − v) · 180°                                   (+90° at the top row, −90° at the bottom)
    d = (cos(pitch)·sin(yaw), sin(pitch), cos(pitch)·cos(yaw))
and back: yaw = atan2(d.x, d.z), pitch = asin(d.y / |d|).

Sampling is bilinear at continuous pixel coordinates (u·W − 0.5, v·H − 0.5); columns wrap around (so the
±180° seam is interpolated across), rows clamp at the poles.
"""

from __future__ import annotations

import math

import numpy as np

from dit360_desktop.panorama.qa import seam_score

__all__ = [
    "CROSS_LAYOUT",
    "FACE_NAMES",
    "cube_face_directions",
    "cubemap_cross",
    "direction_to_equirect_uv",
    "discontinuity_score",
    "equirect_directions",
    "equirect_to_cubemap",
    "equirect_to_perspective",
    "equirect_uv_to_direction",
    "perspective_directions",
    "roll_yaw",
    "sample_equirect",
]

# The OpenGL / three.js face order (GL_TEXTURE_CUBE_MAP_POSITIVE_X + i; CubeTextureLoader's url order).
FACE_NAMES = ("px", "nx", "py", "ny", "pz", "nz")

# Horizontal cross, 4 faces wide and 3 high, as Unity's importer detects it:
#        [+Y]
#   [-X] [+Z] [+X] [-Z]
#        [-Y]
# Values are (row, column) in face units.
CROSS_LAYOUT: dict[str, tuple[int, int]] = {
    "py": (0, 1),
    "nx": (1, 0),
    "pz": (1, 1),
    "px": (1, 2),
    "nz": (1, 3),
    "ny": (2, 1),
}


def equirect_uv_to_direction(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Unit directions (..., 3) for equirect texture coordinates u, v in [0, 1]."""
    u, v = np.broadcast_arrays(np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64))
    yaw = (u - 0.5) * (2.0 * math.pi)
    pitch = (0.5 - v) * math.pi
    cos_pitch = np.cos(pitch)
    return np.stack([cos_pitch * np.sin(yaw), np.sin(pitch), cos_pitch * np.cos(yaw)], axis=-1)


def direction_to_equirect_uv(directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equirect texture coordinates (u in [0, 1), v in [0, 1]) of directions (..., 3), any length > 0."""
    d = np.asarray(directions, dtype=np.float64)
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    length = np.sqrt(x * x + y * y + z * z)
    if np.any(length == 0):
        raise ValueError("a direction vector has zero length")
    yaw = np.arctan2(x, z)
    pitch = np.arcsin(np.clip(y / length, -1.0, 1.0))
    u = np.mod(yaw / (2.0 * math.pi) + 0.5, 1.0)
    v = 0.5 - pitch / math.pi
    return u, v


def equirect_directions(width: int, height: int) -> np.ndarray:
    """The (height, width, 3) unit directions of every pixel centre of an equirect image."""
    u = (np.arange(width, dtype=np.float64) + 0.5) / width
    v = (np.arange(height, dtype=np.float64) + 0.5) / height
    return equirect_uv_to_direction(u[None, :], v[:, None])


def _as_float_image(img: np.ndarray) -> tuple[np.ndarray, bool]:
    array = np.asarray(img)
    if array.ndim not in (2, 3) or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {array.shape}")
    squeeze = array.ndim == 2
    if squeeze:
        array = array[:, :, None]
    return array.astype(np.float32, copy=False), squeeze


def _restore(values: np.ndarray, like: np.ndarray, squeeze: bool) -> np.ndarray:
    if squeeze:
        values = values[..., 0]
    if np.issubdtype(np.asarray(like).dtype, np.integer):
        info = np.iinfo(np.asarray(like).dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(np.asarray(like).dtype)
    return values.astype(np.float32, copy=False)


# Samples per block: bounds the temporaries (~100 MB at most) whatever the output size.
_BLOCK_SAMPLES = 1 << 20


def _uv_float32(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``direction_to_equirect_uv`` in float32 for rendering: the error is ~1e-4 pixel at 2048 wide."""
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    yaw = np.arctan2(x, z)
    pitch = np.arctan2(y, np.hypot(x, z))  # atan2 needs no normalisation and is exact at the poles
    u = yaw * np.float32(0.5 / math.pi) + np.float32(0.5)
    v = np.float32(0.5) - pitch * np.float32(1.0 / math.pi)
    return u, v


def _bilinear(flat: np.ndarray, height: int, width: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear lookup in a float32 equirect image given as (H·W, C); columns wrap, rows clamp."""
    x = u * np.float32(width) - np.float32(0.5)
    y = np.clip(v * np.float32(height) - np.float32(0.5), 0, height - 1)
    x_floor = np.floor(x)
    y_floor = np.floor(y)
    fx = (x - x_floor)[..., None]
    fy = (y - y_floor)[..., None]
    x0 = x_floor.astype(np.int64) % width
    x1 = x0 + 1
    x1[x1 == width] = 0
    row0 = y_floor.astype(np.int64) * width
    row1 = np.minimum(row0 + width, (height - 1) * width)
    top = np.take(flat, row0 + x0, axis=0)
    top += (np.take(flat, row0 + x1, axis=0) - top) * fx
    bottom = np.take(flat, row1 + x0, axis=0)
    bottom += (np.take(flat, row1 + x1, axis=0) - bottom) * fx
    top += (bottom - top) * fy
    return top


def _render(img: np.ndarray, height: int, width: int, directions_for_rows) -> np.ndarray:
    """Sample ``img`` for an output of ``height`` rows, asking ``directions_for_rows(start, stop)``
    for float32 (rows, width, 3) directions one block of rows at a time."""
    src, squeeze = _as_float_image(img)
    src_h, src_w, channels = src.shape
    flat = np.ascontiguousarray(src).reshape(src_h * src_w, channels)
    out = np.empty((height, width, channels), dtype=np.float32)
    rows_per_block = max(1, _BLOCK_SAMPLES // width)
    for start in range(0, height, rows_per_block):
        stop = min(height, start + rows_per_block)
        u, v = _uv_float32(directions_for_rows(start, stop))
        out[start:stop] = _bilinear(flat, src_h, src_w, u, v)
    return _restore(out, img, squeeze)


def sample_equirect(img: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Bilinearly sample an equirect image in directions (..., 3); returns (..., C) in img's dtype."""
    d = np.asarray(directions, dtype=np.float32)
    lead = d.shape[:-1]
    flat_dirs = d.reshape(1, -1, 3)
    sampled = _render(img, 1, flat_dirs.shape[1], lambda start, stop: flat_dirs)
    return sampled.reshape(*lead, *sampled.shape[2:])


def _face_axes(face: str, size: int, start: int, stop: int, dtype: type) -> np.ndarray:
    if face not in FACE_NAMES:
        raise ValueError(f"unknown cube face {face!r}; expected one of {', '.join(FACE_NAMES)}")
    if size < 1:
        raise ValueError(f"face size must be at least 1 (got {size})")
    coords = (np.arange(size, dtype=np.float64) + 0.5) * (2.0 / size) - 1.0
    shape = (stop - start, size)
    sc = np.broadcast_to(coords[None, :], shape)
    tc = np.broadcast_to(coords[start:stop, None], shape)
    one = np.ones(shape)
    axes = {
        "px": (one, -tc, -sc),
        "nx": (-one, -tc, sc),
        "py": (sc, one, tc),
        "ny": (sc, -one, -tc),
        "pz": (sc, -tc, one),
        "nz": (-sc, -tc, -one),
    }[face]
    return np.stack(axes, axis=-1).astype(dtype, copy=False)


def cube_face_directions(face: str, size: int) -> np.ndarray:
    """The (size, size, 3) directions (not normalised) of a cube face's pixel centres, row 0 at the top.

    OpenGL cube-map convention (OpenGL 4.6 spec, table 8.19 "Selection of cube map images"): with
    sc = 2·(col + 0.5)/size − 1 and tc = 2·(row + 0.5)/size − 1,
        px: ( 1, −tc, −sc)   nx: (−1, −tc,  sc)
        py: (sc,   1,  tc)   ny: (sc,  −1, −tc)
        pz: (sc, −tc,   1)   nz: (−sc, −tc, −1)
    i.e. for the four side faces image-up is +Y and image-right is the direction you turn to when
    yawing right; py has +Z (forward) at its bottom edge, ny has +Z at its top edge.
    """
    return _face_axes(face, size, 0, size, np.float64)


def equirect_to_cubemap(img: np.ndarray, face_size: int) -> dict[str, np.ndarray]:
    """Six (face_size, face_size[, C]) faces keyed px, nx, py, ny, pz, nz, bilinearly sampled.

    Neighbouring faces share their edge directions exactly, and all faces sample the same continuous
    bilinear field, so there are no seams between them.
    """
    faces = {}
    for name in FACE_NAMES:
        faces[name] = _render(
            img,
            face_size,
            face_size,
            lambda start, stop, name=name: _face_axes(name, face_size, start, stop, np.float32),
        )
    return faces


def cubemap_cross(faces: dict[str, np.ndarray]) -> np.ndarray:
    """Assemble six equal square faces into a 4×3 horizontal cross (``CROSS_LAYOUT``); empty cells are 0."""
    missing = [name for name in FACE_NAMES if name not in faces]
    if missing:
        raise ValueError(f"cube faces missing: {', '.join(missing)}")
    first = np.asarray(faces["px"])
    size = first.shape[0]
    for name in FACE_NAMES:
        face = np.asarray(faces[name])
        if face.shape != first.shape or face.shape[0] != face.shape[1] or face.dtype != first.dtype:
            raise ValueError(
                f"face {name} has shape {face.shape} and dtype {face.dtype}; all faces must be square "
                f"and match px ({first.shape}, {first.dtype})"
            )
    cross = np.zeros((3 * size, 4 * size, *first.shape[2:]), dtype=first.dtype)
    for name, (row, col) in CROSS_LAYOUT.items():
        cross[row * size : (row + 1) * size, col * size : (col + 1) * size] = faces[name]
    return cross


def _check_view(fov_deg: float, width: int, height: int) -> None:
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"horizontal field of view must be between 0 and 180 degrees (got {fov_deg})")
    if width < 1 or height < 1:
        raise ValueError(f"view size must be positive (got {width}×{height})")


def _view_rays(
    yaw_deg: float,
    pitch_deg: float,
    fov_deg: float,
    width: int,
    height: int,
    start: int,
    stop: int,
    dtype: type,
) -> np.ndarray:
    tan_x = math.tan(math.radians(fov_deg) / 2.0)
    tan_y = tan_x * height / width
    x = ((np.arange(width, dtype=np.float64) + 0.5) * (2.0 / width) - 1.0) * tan_x
    y = (1.0 - (np.arange(start, stop, dtype=np.float64) + 0.5) * (2.0 / height)) * tan_y
    shape = (stop - start, width)
    cx = np.broadcast_to(x[None, :], shape)
    cy = np.broadcast_to(y[:, None], shape)
    pitch, yaw = math.radians(pitch_deg), math.radians(yaw_deg)
    py = cy * math.cos(pitch) + math.sin(pitch)
    pz = -cy * math.sin(pitch) + math.cos(pitch)
    wx = cx * math.cos(yaw) + pz * math.sin(yaw)
    wz = -cx * math.sin(yaw) + pz * math.cos(yaw)
    return np.stack([wx, py, wz], axis=-1).astype(dtype, copy=False)


def perspective_directions(
    yaw_deg: float, pitch_deg: float, fov_deg: float, width: int, height: int
) -> np.ndarray:
    """The (height, width, 3) world directions of a pinhole camera's pixel centres.

    Camera space: x right, y up, z forward; the horizontal field of view is ``fov_deg``, pixels are square:
        tx = tan(fov/2),  ty = tx · height / width
        ray = ((2·(i + 0.5)/width − 1) · tx,  (1 − 2·(j + 0.5)/height) · ty,  1)
    World = R_yaw · R_pitch · ray, where pitch rotates about +X (positive looks up) and yaw about +Y
    (positive turns right, towards +X):
        R_pitch · (x, y, z) = (x, y·cos p + z·sin p, −y·sin p + z·cos p)
        R_yaw   · (x, y, z) = (x·cos a + z·sin a, y, −x·sin a + z·cos a)
    """
    _check_view(fov_deg, width, height)
    return _view_rays(yaw_deg, pitch_deg, fov_deg, width, height, 0, height, np.float64)


def equirect_to_perspective(
    img: np.ndarray, yaw_deg: float, pitch_deg: float, fov_deg: float, width: int, height: int
) -> np.ndarray:
    """Render a (height, width[, C]) pinhole view of the panorama; see ``perspective_directions``."""
    _check_view(fov_deg, width, height)
    return _render(
        img,
        height,
        width,
        lambda start, stop: _view_rays(yaw_deg, pitch_deg, fov_deg, width, height, start, stop, np.float32),
    )


def roll_yaw(img: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate the panorama about the vertical axis: what was at yaw θ ends up at yaw θ + ``degrees``.

    To bring the view at yaw θ to the centre, roll by −θ. Whole-pixel shifts are exact (np.roll);
    fractional ones interpolate linearly between the two neighbouring columns, with wrap-around.
    """
    array = np.asarray(img)
    if array.ndim not in (2, 3):
        raise ValueError(f"expected an (H, W) or (H, W, C) image, got shape {array.shape}")
    width = array.shape[1]
    shift = degrees / 360.0 * width
    whole = round(shift)
    if abs(shift - whole) < 1e-9:
        return np.roll(array, whole, axis=1)
    src, squeeze = _as_float_image(array)
    source_x = np.arange(width, dtype=np.float64) - shift
    floor = np.floor(source_x)
    frac = (source_x - floor).astype(np.float32)[None, :, None]
    x0 = floor.astype(np.int64) % width
    x1 = (x0 + 1) % width
    rolled = src[:, x0] * (1.0 - frac) + src[:, x1] * frac
    return _restore(rolled, array, squeeze)


def discontinuity_score(img: np.ndarray, *, strip_half_width: int | None = None) -> float:
    """The seam score of ``panorama/qa.py`` (one definition for the viewer, the CLI and the tests):
    the mean step across column W−1 → 0 over the mean step between the neighbouring interior columns of
    the 2k-column strip around the seam (k = ``strip_half_width``, default max(4, W/128)); ~1 is seamless."""
    return seam_score(img, strip_half_width=strip_half_width)
