"""Distance maps on disk: a one-channel float EXR (channel ``Z``) and a 16-bit normalised PNG.

A distance map is (H, W) float32, the distance along each pixel's ray from the panorama's centre, in
metres when the depth model is metric, otherwise relative (median 1). The EXR holds it exactly (32-bit
float, channel ``Z`` as Nuke, Blender and OpenEXR's own tools name depth). The PNG is for looking at and
for tools that want a displacement image: inverse distance normalised to 0…65535, near = bright, with the
near and far distances in a text chunk (``dit360-depth``) so the mapping can be undone.

Reading (``read_distance``, for ``--depth``) accepts only EXR: a normalised PNG has lost its scale. Every
value must be finite and positive and the map must have the panorama's aspect (W = 2H); a map that is
not is refused with a sentence, never resampled.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.fileio import write_atomic
from dit360_desktop.panorama.hdr import ExrUnavailableError

__all__ = [
    "DEPTH_CHANNEL",
    "PNG_DEPTH_KEY",
    "check_distance",
    "read_distance",
    "resample_distance",
    "save_distance",
    "save_distance_exr",
    "save_distance_png",
]

DEPTH_CHANNEL = "Z"
PNG_DEPTH_KEY = "dit360-depth"


def check_distance(
    distance: np.ndarray, *, field: str = "depth", source: str = "the depth map"
) -> np.ndarray:
    """The map as float32 (H, W), or a RequestError naming what is wrong with it."""
    array = np.asarray(distance)
    if array.ndim != 2 or array.shape[0] < 2:
        raise RequestError(field, f"{source} must be one channel of H×W values (got shape {array.shape})")
    height, width = array.shape
    if width != 2 * height:
        raise RequestError(
            field,
            f"{source} is {width}×{height}; an equirect depth map must be twice as wide as it is high",
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise RequestError(field, f"{source} holds {array.dtype} values; a float distance map is needed")
    finite = np.isfinite(array)
    if not finite.all():
        bad = int(array.size - finite.sum())
        kind = "NaN" if np.isnan(array).any() else "infinite"
        raise RequestError(field, f"{source} has {bad} {kind} value(s); every distance must be finite")
    if (array <= 0).any():
        raise RequestError(
            field,
            f"{source} has {int((array <= 0).sum())} value(s) at or below zero; distances must be positive",
        )
    return array.astype(np.float32, copy=False)


def save_distance_exr(distance: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """A 32-bit float, ZIP-compressed, one-channel (``Z``) scanline EXR, written atomically."""
    try:
        import OpenEXR
    except ImportError as e:
        raise ExrUnavailableError(
            "EXR depth needs the OpenEXR library: install it with `pip install openexr`, or write a .png."
        ) from e
    values = np.ascontiguousarray(check_distance(distance))
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}

    def write(temp: Path) -> None:
        with OpenEXR.File(header, {DEPTH_CHANNEL: values}) as exr:
            exr.write(str(temp))

    return write_atomic(path, write)


def encode_distance_png(distance: np.ndarray, metadata: dict | None = None) -> bytes:
    """16-bit greyscale PNG of 1/distance normalised to the map's own range (near = 65535)."""
    from PIL import Image, PngImagePlugin

    values = check_distance(distance).astype(np.float64)
    near, far = float(values.min()), float(values.max())
    inverse = 1.0 / values
    span = 1.0 / near - 1.0 / far
    scaled = (inverse - 1.0 / far) / span if span > 0 else np.ones_like(inverse)
    levels = np.clip(np.rint(scaled * 65535.0), 0, 65535).astype(np.uint16)
    info = PngImagePlugin.PngInfo()
    mapping = {"near": near, "far": far, "encoding": "65535 * (1/d - 1/far) / (1/near - 1/far)"}
    info.add_itxt(PNG_DEPTH_KEY, json.dumps({**(metadata or {}), **mapping}), zip=False)
    buffer = io.BytesIO()
    Image.fromarray(levels).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def save_distance_png(
    distance: np.ndarray, path: str | os.PathLike[str], metadata: dict | None = None
) -> Path:
    return write_atomic(path, encode_distance_png(distance, metadata))


def save_distance(distance: np.ndarray, path: str | os.PathLike[str], metadata: dict | None = None) -> Path:
    """EXR or PNG by the file's extension."""
    suffix = Path(path).suffix.lower()
    if suffix == ".exr":
        return save_distance_exr(distance, path)
    if suffix == ".png":
        return save_distance_png(distance, path, metadata)
    raise RequestError("output", f"a depth map is written as .exr or .png (got {Path(path).name})")


def read_distance(path: str | os.PathLike[str], *, field: str = "depth") -> np.ndarray:
    """A distance map from a one-channel EXR (``Z``, or its only channel), checked by ``check_distance``."""
    path = Path(path).expanduser()
    if path.suffix.lower() != ".exr":
        raise RequestError(
            field,
            f"{path.name}: give the depth as a one-channel float .exr (distance along the ray); a PNG "
            "depth map is normalised and has lost its scale",
        )
    try:
        import OpenEXR
    except ImportError as e:
        raise ExrUnavailableError(
            "Reading EXR depth needs the OpenEXR library (`pip install openexr`)."
        ) from e
    if not path.is_file():
        raise RequestError(field, f"{path} does not exist or is not a file")
    try:
        with OpenEXR.File(str(path)) as exr:
            channels = exr.channels()
            if DEPTH_CHANNEL in channels:
                pixels = channels[DEPTH_CHANNEL].pixels
            elif len(channels) == 1:
                pixels = next(iter(channels.values())).pixels
            else:
                raise RequestError(
                    field,
                    f"{path.name} has channels {sorted(channels)}; a depth EXR has one channel, named Z",
                )
            values = np.array(pixels)
    except RequestError:
        raise
    except Exception as e:  # OpenEXR raises plain Exceptions for unreadable files
        raise RequestError(field, f"{path.name} is not a readable EXR file ({e})") from e
    if values.ndim != 2:
        raise RequestError(field, f"{path.name} holds {values.shape} values; a depth map has one channel")
    return check_distance(values.astype(np.float32), field=field, source=path.name)


def resample_distance(distance: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resampling on the sphere's grid (columns wrap, rows clamp), in log distance."""
    values = np.asarray(distance, dtype=np.float32)
    if values.shape == (height, width):
        return values
    src_h, src_w = values.shape
    x = (np.arange(width) + 0.5) * (src_w / width) - 0.5
    y = np.clip((np.arange(height) + 0.5) * (src_h / height) - 0.5, 0.0, src_h - 1.0)
    x0 = np.floor(x).astype(np.int64)
    fx = (x - x0).astype(np.float32)[None, :]
    x0 %= src_w
    x1 = (x0 + 1) % src_w
    y0 = np.minimum(np.floor(y).astype(np.int64), src_h - 1)
    y1 = np.minimum(y0 + 1, src_h - 1)
    fy = (y - y0).astype(np.float32)[:, None]
    logs = np.log(values)
    top = logs[y0][:, x0] * (1 - fx) + logs[y0][:, x1] * fx
    bottom = logs[y1][:, x0] * (1 - fx) + logs[y1][:, x1] * fx
    return np.exp(top * (1 - fy) + bottom * fy).astype(np.float32)
