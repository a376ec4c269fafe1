"""Edit masks on the sphere: loading, fitting, wrap-aware dilation and feathering, and the final composite.

Convention (A1111 / diffusers): white = regenerate, black = keep, grey = partial. Arrays here are float32
in [0, 1] at the panorama's resolution.

One reader, ``read_mask``, serves every path that takes a mask file (``dit360 edit``, ``dit360 place``,
a batch's edit jobs, the library's copy beside an edit, the app's mask import), with one rule:

- transparency counts as black (keep): the file is composited onto black, so a white-on-transparent
  mask regenerates exactly where it is painted;
- colour is read by its luminance (ITU-R 601, Pillow's ``L``);
- compression noise is thresholded, never refused: 0…15 counts as 0 (keep) and 240…255 as 255
  (regenerate), so a JPEG's ringing in the black area cannot touch a kept pixel; values in between
  stay partial.

Neighbourhoods follow the sphere, not the rectangle: column 0 and column W-1 are neighbours (the 0/360°
seam), and the row above the top row is the top row seen from the other side of the pole (shifted by half
a turn), so a mask that touches an edge or a pole grows and softens without a seam or a pinch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.userimage import load_user_image

__all__ = [
    "ASPECT_TOLERANCE",
    "MASK_NOISE_LEVELS",
    "box_mean",
    "composite",
    "dilate",
    "feather_alpha",
    "fit_mask",
    "load_mask",
    "mask_to_png",
    "max_filter",
    "read_mask",
]

# 1 %: a 2048×1024 panorama and a 2040×1024 mask are the same picture; 4:3 and 2:1 are not.
ASPECT_TOLERANCE = 0.01
# Levels (of 255) within this distance of black or white are read as black or white: a JPEG at quality 10
# strays up to about 8 levels in flat areas and a little more next to an edge.
MASK_NOISE_LEVELS = 15


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """A mask file by the module's rule: (H, W) uint8 at the file's own size, 0 = keep, 255 = regenerate.

    Unreadable files raise ``ImageLoadError`` (from the safe loader)."""
    image = load_user_image(path, background=(0, 0, 0))
    values = np.asarray(image.convert("L"), dtype=np.uint8).copy()
    values[values <= MASK_NOISE_LEVELS] = 0
    values[values >= 255 - MASK_NOISE_LEVELS] = 255
    return values


def load_mask(path: str | os.PathLike[str], image_size: tuple[int, int]) -> np.ndarray:
    """``read_mask`` as (H, W) float32 in [0, 1] at the mask's own size, checked against the picture.

    ``image_size`` is the (width, height) of the picture being edited: a mask of another aspect is refused,
    as is one with nothing to regenerate. Unreadable files raise ``ImageLoadError`` (from the loader).
    """
    grey = read_mask(path)
    height, width = grey.shape
    image_w, image_h = image_size
    mask_aspect, image_aspect = width / height, image_w / image_h
    if abs(mask_aspect / image_aspect - 1.0) > ASPECT_TOLERANCE:
        raise RequestError(
            "mask_image",
            f"{Path(path).name} is {width}×{height} but the panorama is {image_w}×{image_h}; "
            "a mask must have the same aspect ratio as the picture it edits",
        )
    values = grey.astype(np.float32) / 255.0
    if not values.any():
        raise RequestError(
            "mask_image",
            f"{Path(path).name} is all black (or transparent), so there is nothing to regenerate "
            "(white = regenerate, black or transparent = keep)",
        )
    return values


def fit_mask(mask: np.ndarray, width: int, height: int, fit: str) -> np.ndarray:
    """Resize a mask the way ``userimage.fit_image`` fits its picture; padding is marked for regeneration."""
    source = Image.fromarray(np.clip(np.rint(mask * 255.0), 0, 255).astype(np.uint8), mode="L")
    src_w, src_h = source.size
    if (src_w, src_h) == (width, height):
        return mask.astype(np.float32, copy=False)
    if fit == "stretch":
        resized = source.resize((width, height), Image.Resampling.BILINEAR)
    elif fit == "crop":
        target = width / height
        if src_w / src_h > target:
            crop_w = src_h * target
            box = ((src_w - crop_w) / 2, 0.0, (src_w + crop_w) / 2, float(src_h))
        else:
            crop_h = src_w / target
            box = (0.0, (src_h - crop_h) / 2, float(src_w), (src_h + crop_h) / 2)
        resized = source.resize((width, height), Image.Resampling.BILINEAR, box=box)
    elif fit == "pad":
        # The padding around a fitted picture is invented, so it is always regenerated.
        scale = min(width / src_w, height / src_h)
        inner_w = max(1, min(width, round(src_w * scale)))
        inner_h = max(1, min(height, round(src_h * scale)))
        resized = Image.new("L", (width, height), 255)
        resized.paste(
            source.resize((inner_w, inner_h), Image.Resampling.BILINEAR),
            ((width - inner_w) // 2, (height - inner_h) // 2),
        )
    else:
        raise RequestError("fit", f"must be one of crop, pad, stretch (got {fit!r})")
    return np.asarray(resized, dtype=np.float32) / 255.0


def _sphere_pad(values: np.ndarray, radius: int) -> np.ndarray:
    """Pad (H, W) by ``radius``: columns wrap around, rows continue over the pole half a turn away."""
    height, width = values.shape
    radius_y = min(radius, height)
    top = np.roll(values[:radius_y][::-1], width // 2, axis=1)
    bottom = np.roll(values[height - radius_y :][::-1], width // 2, axis=1)
    tall = np.concatenate([top, values, bottom], axis=0)
    if radius_y < radius:
        # Only for masks a few rows high: clamp what is left instead of wrapping twice.
        tall = np.pad(tall, ((radius - radius_y, radius - radius_y), (0, 0)), mode="edge")
    reps = radius // width + 1
    wide = np.tile(tall, (1, 2 * reps + 1))
    start = reps * width - radius
    return wide[:, start : start + width + 2 * radius]


def box_sum(values: np.ndarray, radius: int) -> np.ndarray:
    """Sum over the (2r+1)² square around each pixel, on the sphere (see ``_sphere_pad``)."""
    if radius <= 0:
        return values.copy()
    padded = _sphere_pad(values, radius)
    size = 2 * radius + 1
    rows = np.cumsum(np.pad(padded, ((1, 0), (0, 0))), axis=0)
    rows = rows[size:] - rows[:-size]
    cols = np.cumsum(np.pad(rows, ((0, 0), (1, 0))), axis=1)
    return cols[:, size:] - cols[:, :-size]


def box_mean(values: np.ndarray, radius: int) -> np.ndarray:
    return box_sum(values, radius) / float((2 * radius + 1) ** 2)


def dilate(support: np.ndarray, radius: int) -> np.ndarray:
    """Grow a boolean mask by ``radius`` pixels (a square), across the seam and over the poles."""
    if radius <= 0:
        return support.astype(bool, copy=True)
    # Integer counts: a pixel is in the dilation exactly when its window holds a masked pixel.
    return box_sum(support.astype(np.int64), radius) > 0


def max_filter(values: np.ndarray, radius: int) -> np.ndarray:
    """Grey dilation: each pixel becomes the largest value in its (2r+1)² square, on the sphere."""
    if radius <= 0:
        return values.copy()
    padded = _sphere_pad(values, radius)
    height, width = values.shape
    size = 2 * radius + 1
    out = padded[:height, :width].copy()
    for dy in range(size):
        for dx in range(size):
            np.maximum(out, padded[dy : dy + height, dx : dx + width], out=out)
    return out


def feather_alpha(mask: np.ndarray, feather: int) -> np.ndarray:
    """The composite weight of the generated picture: the mask itself, plus a soft edge ``feather`` px wide.

    Inside the mask (any value > 0) alpha is the mask's value, so grey stays partial. Outside it, alpha
    falls from the nearby mask value to exactly 0 over ``feather`` pixels (Chebyshev distance, on the
    sphere): every pixel farther than that from the mask has alpha 0, and keeps its input value exactly.
    """
    values = np.clip(mask.astype(np.float32, copy=False), 0.0, 1.0)
    support = values > 0
    if feather <= 0:
        return values.copy()
    # The share of masked pixels in the (2f+1)² window: about 1/2 next to a straight edge, falling linearly
    # to exactly 0 once the window no longer reaches the mask (integer counts, so no rounding residue).
    counts = box_sum(support.astype(np.int64), feather)
    ramp = counts.astype(np.float32) / float((2 * feather + 1) ** 2)
    # The value the ramp starts from: the mean of the mask values near the edge (1 for a white mask).
    near_sum = box_sum(values.astype(np.float64), feather)
    near = np.where(counts > 0, near_sum / np.maximum(counts, 1), 0.0).astype(np.float32)
    edge = np.clip(np.minimum(1.0, 2.0 * ramp) * near, 0.0, 1.0)
    return np.where(support, values, edge).astype(np.float32)


def composite(original: np.ndarray, generated: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``original`` where alpha is 0 (bit for bit), ``generated`` where it is 1, mixed in between (uint8)."""
    if original.shape != generated.shape or original.shape[:2] != alpha.shape:
        raise ValueError(
            f"composite needs equal sizes (got {original.shape}, {generated.shape} and {alpha.shape})"
        )
    weight = alpha[..., None].astype(np.float32)
    mixed = original.astype(np.float32) * (1.0 - weight) + generated.astype(np.float32) * weight
    mixed = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return np.where(weight > 0, mixed, original).astype(np.uint8)


def mask_to_png(mask: np.ndarray) -> Image.Image:
    """A float mask as an 8-bit greyscale image (white = regenerate)."""
    return Image.fromarray(np.clip(np.rint(mask * 255.0), 0, 255).astype(np.uint8), mode="L")
