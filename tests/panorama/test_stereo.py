"""Omni-directional stereo: ipd 0 is the input, a constant distance turns each eye by ±asin(ipd/2 ÷ r)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dit360_desktop.panorama.projection import roll_yaw
from dit360_desktop.panorama.stereo import ods_eye, ods_pair, top_bottom


def _texture(width: int = 512, height: int = 256) -> np.ndarray:
    # Smooth in yaw (so a fractional roll is well defined) and different on every row.
    x = np.arange(width)[None, :] * (2 * np.pi / width)
    y = np.arange(height)[:, None] / height
    channels = [127 + 100 * np.sin(k * x + 3 * y * k) for k in (1, 2, 3)]
    return np.clip(np.stack(channels, -1), 0, 255).astype(np.uint8)


def test_ipd_zero_gives_the_input_to_both_eyes() -> None:
    rgb = _texture()
    distance = np.random.default_rng(0).uniform(0.5, 9.0, (256, 512)).astype(np.float32)
    pair = ods_pair(rgb, distance, 0.0)
    np.testing.assert_array_equal(pair.left, rgb)
    np.testing.assert_array_equal(pair.right, rgb)
    assert not pair.left_holes.any() and not pair.right_holes.any()


@pytest.mark.parametrize("radius", [0.5, 2.0])
def test_constant_distance_turns_each_eye_by_the_omni_stereo_angle(radius: float) -> None:
    rgb = _texture()
    ipd = 0.064
    distance = np.full((256, 512), radius, np.float32)
    angle = math.degrees(math.asin(ipd / 2 / radius))
    left, left_holes = ods_eye(rgb, distance, ipd, "left")
    right, right_holes = ods_eye(rgb, distance, ipd, "right")
    assert not left_holes.any() and not right_holes.any()
    horizon = slice(127, 129)
    expected_left = roll_yaw(rgb, angle)[horizon].astype(int)
    expected_right = roll_yaw(rgb, -angle)[horizon].astype(int)
    assert np.abs(left[horizon].astype(int) - expected_left).max() <= 1
    assert np.abs(right[horizon].astype(int) - expected_right).max() <= 1
    # And not by anything else: a turn of twice the angle is far off.
    assert np.abs(left[horizon].astype(int) - roll_yaw(rgb, 2 * angle)[horizon].astype(int)).max() > 1


def test_a_near_box_opens_holes_beside_its_edges_and_top_bottom_layout() -> None:
    rgb = _texture()
    distance = np.full((256, 512), 4.0, np.float32)
    distance[100:156, 240:272] = 0.6
    pair = ods_pair(rgb, distance, 0.064)
    assert pair.left_holes.any() and pair.right_holes.any()
    rows, columns = np.nonzero(pair.left_holes)
    assert rows.min() >= 95 and rows.max() <= 160 and columns.min() >= 225 and columns.max() <= 290
    image = top_bottom(pair, holes_transparent=True)
    assert image.shape == (512, 512, 4)
    np.testing.assert_array_equal(image[:256, :, :3], pair.left)
    np.testing.assert_array_equal(image[256:, :, :3], pair.right)
    np.testing.assert_array_equal(image[..., 3] == 0, np.concatenate([pair.left_holes, pair.right_holes]))


def test_depth_inside_the_eye_circle_is_refused() -> None:
    with pytest.raises(ValueError, match="inside the eyes' circle"):
        ods_eye(_texture(), np.full((256, 512), 0.01, np.float32), 0.064, "left")
