"""Omni-directional stereo (ODS) from a panorama and its distance map: one equirect per eye.

In ODS every output ray of yaw θ and pitch φ starts on the viewing circle of radius r = ipd/2, at the
point where it is tangent to the circle: for the left eye p = −r·e(θ), for the right eye p = +r·e(θ),
with e(θ) the horizontal "right" vector at yaw θ (east). The eye sees the first surface point
X = p + t·d(θ, φ) whose distance from the centre reaches the panorama's distance in its direction:
|X| ≥ D(X/|X|). Since p ⊥ d, |X|² = r² + t², and X's direction is d turned sideways by α = atan(r/t). For a
constant distance R on the horizon the hit is at t = √(R² − r²), so the eye sees the panorama's content
from yaw θ ∓ asin(r/R) (left −, right +): each eye is the input turned by asin(ipd/2 ÷ R), in opposite
directions.

The search walks α from the largest angle any surface can subtend (the nearest distance in the map) down
to 0 in steps of a quarter pixel and takes the first α where the ray has reached the surface, refined
linearly between the two bracketing steps. A hit where the panorama's distance jumps between those two
steps (the ray passed behind a foreground edge that the centre sees) shows something the panorama does
not: a disocclusion, returned as a hole mask.

Layout: top/bottom, left eye on top, each eye W × H, so W × W for a W × W/2 panorama (YouTube VR and
headset players read it this way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dit360_desktop.panorama.depthmap import check_distance, resample_distance

__all__ = ["EDGE_JUMP", "StereoPair", "ods_eye", "ods_pair", "top_bottom"]

# Distances that differ by more than this factor between two steps a quarter pixel apart are an edge.
EDGE_JUMP = 1.05
_MAX_STEPS = 512


@dataclass(frozen=True)
class StereoPair:
    left: np.ndarray  # (H, W, 3) uint8
    right: np.ndarray
    left_holes: np.ndarray  # (H, W) bool: disoccluded
    right_holes: np.ndarray


def _bilinear_wrap(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Samples at continuous pixel coordinates: columns wrap, rows clamp; (..., C) for a 3-D image."""
    height, width = image.shape[:2]
    y = np.clip(y, 0.0, height - 1.0)
    x0 = np.floor(x)
    fx = (x - x0).astype(np.float32)
    x0 = x0.astype(np.int64) % width
    x1 = (x0 + 1) % width
    y0 = np.minimum(np.floor(y).astype(np.int64), height - 2 if height > 1 else 0)
    fy = (y - y0).astype(np.float32)
    y1 = np.minimum(y0 + 1, height - 1)
    if image.ndim == 3:
        fx, fy = fx[..., None], fy[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _turned(theta: np.ndarray, phi: np.ndarray, alpha: np.ndarray, side: float):
    """Yaw and pitch of d(θ, φ)·cos α + side·e(θ)·sin α (the direction of X for ray angle α)."""
    cos_a, sin_a = np.cos(alpha), np.sin(alpha)
    cos_p = np.cos(phi)
    # d = (cos φ sin θ, sin φ, cos φ cos θ), e = (cos θ, 0, −sin θ) in the panorama's frame.
    x = cos_p * np.sin(theta) * cos_a + side * np.cos(theta) * sin_a
    y = np.sin(phi) * cos_a
    z = cos_p * np.cos(theta) * cos_a - side * np.sin(theta) * sin_a
    return np.arctan2(x, z), np.arctan2(y, np.hypot(x, z))


def ods_eye(rgb: np.ndarray, distance: np.ndarray, ipd: float, eye: str) -> tuple[np.ndarray, np.ndarray]:
    """One eye's panorama (uint8, the input's size) and its hole mask; ``distance`` in the ipd's units."""
    pixels = np.asarray(rgb)
    if pixels.ndim != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, C) uint8 panorama, got {pixels.shape} {pixels.dtype}")
    if eye not in ("left", "right"):
        raise ValueError(f"eye must be 'left' or 'right' (got {eye!r})")
    if not (math.isfinite(ipd) and ipd >= 0):
        raise ValueError(f"the interpupillary distance must be 0 or more (got {ipd})")
    height, width = pixels.shape[:2]
    values = resample_distance(check_distance(distance), width, height)
    radius = ipd / 2.0
    if radius == 0.0:
        return pixels.copy(), np.zeros((height, width), dtype=bool)
    nearest = float(values.min())
    if nearest <= radius:
        raise ValueError(
            f"the nearest distance ({nearest:.4g}) is inside the eyes' circle (ipd/2 = {radius:.4g}): "
            "scale the depth to metres or lower the ipd"
        )
    side = -1.0 if eye == "left" else 1.0
    alpha_max = math.asin(radius / nearest)
    pixel_angle = 2.0 * math.pi / width
    steps = min(_MAX_STEPS, max(2, math.ceil(alpha_max / (pixel_angle / 4.0)) + 1))
    alphas = np.linspace(alpha_max, 0.0, steps)
    theta = (((np.arange(width) + 0.5) / width - 0.5) * 2.0 * math.pi)[None, :]
    phi = ((0.5 - (np.arange(height) + 0.5) / height) * math.pi)[:, None]
    theta, phi = (a.reshape(-1) for a in np.broadcast_arrays(theta, phi))
    log_values = np.log(values.astype(np.float64))
    # No surface nearer than the nearest distance around a pixel (within α_max) can stop its ray, so each
    # ray's search starts at the angle that distance subtends instead of at α_max.
    around = _window_min(values, math.ceil(alpha_max / pixel_angle) + 1).reshape(-1)
    start_alpha = np.arcsin(np.minimum(1.0, radius / around.astype(np.float64)))

    def probe(index: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        yaw, pitch = _turned(theta[index], phi[index], alpha, side)
        x = (yaw / (2.0 * math.pi) + 0.5) * width - 0.5
        y = (0.5 - pitch / math.pi) * height - 0.5
        surface = np.exp(_bilinear_wrap(log_values, x, y))
        reach = radius / np.maximum(np.sin(alpha), 1e-300)  # |X| = r / sin α
        return reach - surface, surface, x, y

    count = height * width
    hit_alpha = np.zeros(count)
    hole = np.zeros(count, dtype=bool)
    # α = 0 is the far limit (t → ∞): a ray that never reaches a surface looks at the panorama straight on.
    active = np.zeros(0, dtype=np.int64)
    previous_gap = previous_surface = previous_alpha = np.zeros(0)
    waiting = np.argsort(-start_alpha, kind="stable")
    cursor = 0
    for alpha_value in alphas:
        # Rays whose search starts above this angle join, probed first at their own start angle (where
        # the ray cannot have reached a surface yet, or touches the nearest one exactly).
        joining_end = cursor + int(
            np.searchsorted(-start_alpha[waiting[cursor:]], -alpha_value, side="right")
        )
        joining = waiting[cursor:joining_end]
        cursor = joining_end
        if joining.size:
            gap, surface = probe(joining, start_alpha[joining])[:2]
            touching = gap >= 0
            hit_alpha[joining[touching]] = start_alpha[joining[touching]]
            waiting_rays = joining[~touching]
            active = np.concatenate([active, waiting_rays])
            previous_gap = np.concatenate([previous_gap, gap[~touching]])
            previous_surface = np.concatenate([previous_surface, surface[~touching]])
            previous_alpha = np.concatenate([previous_alpha, start_alpha[waiting_rays]])
        if active.size == 0:
            if cursor >= count:
                break
            continue
        gap, surface = probe(active, np.full(active.size, alpha_value))[:2]
        new = gap >= 0
        if new.any():
            # Linear refinement between the bracketing angles (gap < 0 before, ≥ 0 now).
            before, now = previous_gap[new], gap[new]
            share = before / np.where(before - now == 0, -1.0, before - now)
            hit_alpha[active[new]] = previous_alpha[new] + (alpha_value - previous_alpha[new]) * share
            jump = np.maximum(surface[new], previous_surface[new]) / np.minimum(
                surface[new], previous_surface[new]
            )
            hole[active[new]] = jump > EDGE_JUMP
        keep = ~new
        active, previous_gap, previous_surface = active[keep], gap[keep], surface[keep]
        previous_alpha = np.full(active.size, alpha_value)
    everything = np.arange(count)
    _gap, _surface, x, y = probe(everything, hit_alpha)
    eye_pixels = _bilinear_wrap(pixels.astype(np.float32), x, y)
    out = np.clip(np.rint(eye_pixels), 0, 255).astype(np.uint8).reshape(pixels.shape)
    return out, hole.reshape(height, width)


def _window_min(values: np.ndarray, rows_half: int) -> np.ndarray:
    """The minimum over ±``rows_half`` rows and the columns those rows' angle spans (wider near the poles)."""
    height, width = values.shape
    vertical = values.copy()
    for shift in range(1, rows_half + 1):
        vertical[shift:] = np.minimum(vertical[shift:], values[:-shift])
        vertical[:-shift] = np.minimum(vertical[:-shift], values[shift:])
    cos_pitch = np.cos((0.5 - (np.arange(height) + 0.5) / height) * math.pi)
    half = np.minimum(width // 2, np.ceil(rows_half * 2 / np.maximum(cos_pitch, 1e-6))).astype(np.int64)
    out = np.empty_like(vertical)
    for size in np.unique(half):
        rows = half == size
        block = vertical[rows]
        window = block.copy()
        reach = 0
        # Doubling: after the loop ``window`` is the minimum over columns −reach … +reach.
        while reach < size:
            step = min(reach + 1, size - reach)
            window = np.minimum(
                window, np.minimum(np.roll(window, step, axis=1), np.roll(window, -step, axis=1))
            )
            reach += step
        out[rows] = window
    return out


def ods_pair(rgb: np.ndarray, distance: np.ndarray, ipd: float) -> StereoPair:
    left, left_holes = ods_eye(rgb, distance, ipd, "left")
    right, right_holes = ods_eye(rgb, distance, ipd, "right")
    return StereoPair(left, right, left_holes, right_holes)


def top_bottom(pair: StereoPair, *, holes_transparent: bool) -> np.ndarray:
    """The W × W top/bottom image, left eye on top; RGBA with α = 0 on holes when asked."""
    image = np.concatenate([pair.left, pair.right], axis=0)
    if not holes_transparent:
        return image
    alpha = np.where(np.concatenate([pair.left_holes, pair.right_holes], axis=0), 0, 255).astype(np.uint8)
    return np.concatenate([image[..., :3], alpha[..., None]], axis=-1)
