"""A box room with known walls, seen from an off-centre eye: exact distances for the geometry tests."""

from __future__ import annotations

import numpy as np

from dit360_desktop.core.depth.merge import Z_DEPTH
from dit360_desktop.core.depth.views import View
from dit360_desktop.panorama.projection import equirect_directions

# Walls (−x, +x, floor, ceiling, −z, +z) in metres around the eye.
ROOM_MIN = np.array([-2.3, -1.6, -3.1])
ROOM_MAX = np.array([3.4, 1.1, 2.7])


def room_distance(directions: np.ndarray) -> np.ndarray:
    """Distance along each direction (..., 3) to the first wall of the box (directions need not be unit)."""
    d = np.asarray(directions, dtype=np.float64)
    unit = d / np.linalg.norm(d, axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(unit > 0, ROOM_MAX / unit, np.where(unit < 0, ROOM_MIN / unit, np.inf))
    return t.min(axis=-1)


def room_panorama(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """An RGB texture (a grid on the walls) and the true distance map, both (height, width, …)."""
    directions = equirect_directions(width, height)
    distance = room_distance(directions)
    points = directions * distance[..., None]
    checker = (np.floor(points * 2.0).astype(np.int64).sum(axis=-1) % 2).astype(np.uint8)
    rgb = np.stack([80 + 120 * checker, 60 + 40 * checker, 200 - 100 * checker], axis=-1).astype(np.uint8)
    return rgb, distance.astype(np.float32)


class ExactZDepthSource:
    """Each view's exact z-depth (or disparity), with a random scale and shift per view (what the merge
    must undo)."""

    metric = False

    def __init__(self, seed: int = 0, *, kind: str = Z_DEPTH) -> None:
        self.rng = np.random.default_rng(seed)
        self.kind = kind
        self.calls: list[tuple[float, float]] = []

    def __call__(self, pixels: np.ndarray, view: View) -> np.ndarray:
        distance = room_distance(view.world_rays())
        z = distance / view.ray_lengths()
        scale = float(self.rng.uniform(0.2, 5.0))
        shift = float(self.rng.uniform(-1.0, 3.0))
        self.calls.append((scale, shift))
        # A relative depth model's answer is affine in disparity (1/z), a metric one's in z.
        return scale * (z if self.kind == Z_DEPTH else 1.0 / z) + shift
