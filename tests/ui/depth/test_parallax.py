"""The parallax preview's moved eye: the centre is the panorama itself, a move turns what is beside the
eye by the exact angle, nearer surfaces hide farther ones, and the eye never leaves 0.5 m or the room."""

from __future__ import annotations

import math

import numpy as np

from dit360_desktop.ui.depth.parallax import HOLE_COLOUR, clamp_eye, moved_eye


def _panorama(width: int = 720, height: int = 360) -> np.ndarray:
    rng = np.random.default_rng(4)
    return rng.integers(0, 256, (height, width, 3)).astype(np.uint8)


def test_the_centre_is_the_panorama() -> None:
    rgb = _panorama()
    distance = np.random.default_rng(5).uniform(1, 4, rgb.shape[:2])
    out, holes = moved_eye(rgb, distance, np.zeros(3))
    assert np.array_equal(out, rgb) and not holes.any()


def test_moving_forward_turns_the_side_by_the_exact_angle() -> None:
    width, height = 720, 360
    rgb = np.zeros((height, width, 3), dtype=np.uint8)
    column = 3 * width // 4  # yaw +90° (on the right), a marker column on the horizon
    rgb[height // 2 - 2 : height // 2 + 2, column] = 255
    radius, step = 2.0, 0.5
    out, _holes = moved_eye(rgb, np.full((height, width), radius), np.array([0.0, 0.0, step]))
    found = np.flatnonzero(out[height // 2, :, 0] == 255)
    yaw = (found.mean() + 0.5) / width * 360.0 - 180.0
    assert abs(yaw - (90.0 + math.degrees(math.atan(step / radius)))) < 0.6  # 104.0°, within a pixel


def test_a_near_box_hides_the_wall_and_opens_a_hole_beside_it() -> None:
    width, height = 720, 360
    rgb = np.full((height, width, 3), 100, dtype=np.uint8)
    distance = np.full((height, width), 3.0)
    box = (slice(150, 210), slice(330, 390))  # ahead of the eye, 1 m away
    rgb[box] = (250, 250, 0)
    distance[box] = 1.0
    out, holes = moved_eye(rgb, distance, np.array([0.3, 0.0, 0.0]))  # 30 cm to the right
    row = out[180]
    yellow = np.flatnonzero((row == (250, 250, 0)).all(axis=-1))
    # Seen from the right, the near box moves left more than the wall behind it: a hole opens on its right.
    assert yellow.mean() < 359.5
    assert holes[180, yellow.max() + 1 : yellow.max() + 20].any()
    assert (out[holes] == HOLE_COLOUR).all()


def test_the_eye_stays_within_half_a_metre_and_inside_the_nearest_surface() -> None:
    assert np.linalg.norm(clamp_eye(np.array([0.0, 0.0, 2.0]), 10.0)) == 0.5
    assert np.allclose(np.linalg.norm(clamp_eye(np.array([1.0, 0.0, 0.0]), 0.3)), 0.27)
    assert np.array_equal(clamp_eye(np.array([0.1, 0.0, 0.0]), 10.0), [0.1, 0.0, 0.0])
