"""The procedural sample panorama: shape, determinism, seamlessness, sensible content."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dit360_desktop.panorama.projection import discontinuity_score, roll_yaw
from dit360_desktop.ui.viewer.sample_panorama import SUN_PITCH, SUN_YAW, sample_panorama


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    return sample_panorama(512, 256)


def test_shape_type_and_determinism(sample):
    assert sample.shape == (256, 512, 3)
    assert sample.dtype == np.uint8
    assert np.array_equal(sample, sample_panorama(512, 256))


def test_seamless_across_0_360(sample):
    score = discontinuity_score(sample)
    assert score < 1.5, score
    # The same check fails on a panorama whose content is shifted so the seam cuts through it.
    broken = sample.copy()
    broken[:, :256] = np.roll(broken[:, :256], 40, axis=0)
    assert discontinuity_score(broken) > 3


def test_columns_are_continuous_everywhere_not_just_at_the_seam(sample):
    # The seam column pair must look like any other column pair: compare it with the median one.
    rolled = roll_yaw(sample, 180).astype(np.int32)
    steps = np.abs(np.diff(rolled, axis=1)).mean(axis=(0, 2))
    assert steps[255] <= 2.0 * np.median(steps) + 1.0


def test_poles_are_single_points(sample):
    # Rows next to the poles see (almost) one direction, so they must be (almost) one colour.
    for row in (sample[0], sample[-1]):
        assert row.astype(np.int32).std(axis=0).max() < 6


def test_scene_content(sample):
    height, width = sample.shape[:2]
    luminance = sample.astype(np.float32).mean(axis=2)
    sun_x = int((SUN_YAW / (2 * math.pi) + 0.5) * width)
    sun_y = int((0.5 - SUN_PITCH / math.pi) * height)
    # The sun (setting behind a ridge) is the brightest thing in the sky.
    y, x = np.unravel_index(np.argmax(luminance[: height // 2]), (height // 2, width))
    assert abs(x - sun_x) <= 3 and abs(y - sun_y) <= 3, (x, y, sun_x, sun_y)
    assert luminance[y, x] > 230
    # Blue sky overhead; dark ground underfoot.
    zenith = sample[5].astype(np.float32).mean(axis=0)
    assert zenith[2] > zenith[0] + 30
    assert luminance[-20:].mean() < luminance[:20].mean()
    # Not a flat fill: real texture in the lower half.
    assert sample[height // 2 + 20 :].std() > 10


def test_rejects_tiny_sizes():
    with pytest.raises(ValueError, match="at least"):
        sample_panorama(4, 2)
