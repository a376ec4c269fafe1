"""A distance map as a colour picture for the viewer: near = warm, far = cool, on 1/distance so the near
field keeps its detail (the same normalisation as the 16-bit depth PNG)."""

from __future__ import annotations

import numpy as np

# A perceptually ordered ramp (dark blue → cyan → green → yellow → red), interpolated linearly.
_RAMP = np.array(
    [
        (48, 18, 59),
        (70, 107, 227),
        (40, 187, 236),
        (49, 242, 153),
        (162, 252, 60),
        (237, 208, 58),
        (251, 128, 34),
        (208, 47, 5),
        (122, 4, 3),
    ],
    dtype=np.float64,
)


def false_colour(distance: np.ndarray) -> np.ndarray:
    """(H, W) positive distances → (H, W, 3) uint8, C-contiguous; the nearest pixel is the ramp's red end."""
    inverse = 1.0 / np.asarray(distance, dtype=np.float64)
    low, high = float(inverse.min()), float(inverse.max())
    t = (inverse - low) / (high - low) if high > low else np.ones_like(inverse)
    position = t * (len(_RAMP) - 1)
    index = np.minimum(position.astype(np.int64), len(_RAMP) - 2)
    frac = (position - index)[..., None]
    colour = _RAMP[index] * (1.0 - frac) + _RAMP[index + 1] * frac
    return np.ascontiguousarray(np.rint(colour).astype(np.uint8))
