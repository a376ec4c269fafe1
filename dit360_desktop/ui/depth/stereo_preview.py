"""A red/cyan preview of the stereo pair on the sphere: red from the left eye, green and blue from the
right (a colour anaglyph; red filter over the left eye). What neither eye's panorama shows (a disocclusion)
takes the panorama's own pixel, so the holes read as flat rather than black in the preview."""

from __future__ import annotations

import numpy as np


def anaglyph(pair: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """``pair``: top/bottom RGBA (left eye on top, alpha 0 in holes); ``rgb``: the panorama (H, W, 3)."""
    height = pair.shape[0] // 2
    left, right = pair[:height], pair[height:]
    source = np.asarray(rgb)[..., :3]
    left_rgb = np.where(left[..., 3:4] > 0, left[..., :3], source)
    right_rgb = np.where(right[..., 3:4] > 0, right[..., :3], source)
    out = np.empty_like(source)
    out[..., 0] = left_rgb[..., 0]
    out[..., 1:] = right_rgb[..., 1:]
    return np.ascontiguousarray(out)
