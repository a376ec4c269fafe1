"""The red/cyan preview: red from the left eye, green and blue from the right, each eye turned by the exact
omni-stereo angle for a constant distance (the two channels move in opposite directions)."""

from __future__ import annotations

import math

import numpy as np

from dit360_desktop.ui.depth.exports import stereo_pair_image
from dit360_desktop.ui.depth.stereo_preview import anaglyph


def _shift(row: np.ndarray, reference: np.ndarray) -> int:
    """The circular shift (in columns) that best maps ``reference`` onto ``row``."""
    a, b = row - row.mean(), reference - reference.mean()
    scores = [float(np.dot(np.roll(b, k), a)) for k in range(-20, 21)]
    return int(np.argmax(scores)) - 20


def test_the_channels_are_the_two_eyes_turned_apart() -> None:
    rng = np.random.default_rng(1)
    width, height = 720, 360
    noise = rng.integers(0, 256, (height, width // 8, 3)).astype(np.uint8)
    rgb = np.ascontiguousarray(np.repeat(noise, 8, axis=1))  # blocks the shift can be found in
    distance = np.full((height, width), 0.5, dtype=np.float32)
    preview = anaglyph(stereo_pair_image(rgb, distance, 0.064, True), rgb)
    expected = math.degrees(math.asin(0.032 / 0.5)) * width / 360.0  # 7.3 columns at the horizon
    row = height // 2
    red = _shift(preview[row, :, 0].astype(float), rgb[row, :, 0].astype(float))
    green = _shift(preview[row, :, 1].astype(float), rgb[row, :, 1].astype(float))
    assert abs(abs(red) - expected) <= 1 and abs(abs(green) - expected) <= 1
    assert np.sign(red) == -np.sign(green)


def test_no_eye_distance_is_the_panorama() -> None:
    rgb = np.random.default_rng(2).integers(0, 256, (32, 64, 3)).astype(np.uint8)
    distance = np.random.default_rng(3).uniform(1, 3, (32, 64)).astype(np.float32)
    assert np.array_equal(anaglyph(stereo_pair_image(rgb, distance, 0.0, False), rgb), rgb)
