"""The view → sphere merge on a synthetic room with exact per-view z-depth (issue 23, §5 geometry)."""

from __future__ import annotations

import numpy as np
import pytest

from dit360_desktop.core.depth.estimate import estimate_distance
from dit360_desktop.core.depth.views import cube_views
from dit360_desktop.panorama.qa import seam_score
from tests.core.depth.synthetic_room import ExactZDepthSource, room_panorama

WIDTH, HEIGHT = 512, 256


@pytest.fixture(scope="module")
def merged():
    rgb, truth = room_panorama(WIDTH, HEIGHT)
    source = ExactZDepthSource(seed=7)
    result = estimate_distance(rgb, source, views=cube_views())  # the real layout: 518² views
    return truth, result, source


def _relative_error(truth: np.ndarray, distance: np.ndarray) -> np.ndarray:
    # A relative source fixes distance up to one global scale: take it from the medians.
    scaled = distance * (np.median(truth) / np.median(distance))
    return np.abs(scaled - truth) / truth


def test_random_scale_and_shift_per_view_are_undone_within_one_percent_everywhere(merged) -> None:
    truth, result, source = merged
    scales = [s for s, _ in source.calls]
    assert max(scales) / min(scales) > 2.0  # the views really were scaled differently
    error = _relative_error(truth, result.distance)
    assert result.distance.shape == (HEIGHT, WIDTH) and result.distance.dtype == np.float32
    assert float(error.max()) < 0.01
    # Poles (top and bottom rows) and the seam (first and last columns) are ordinary places.
    assert float(error[:3].max()) < 0.01 and float(error[-3:].max()) < 0.01
    assert float(error[:, :2].max()) < 0.01 and float(error[:, -2:].max()) < 0.01


def test_relative_result_has_median_one_and_the_fit_explains_the_overlaps(merged) -> None:
    _truth, result, _source = merged
    assert np.median(result.distance) == pytest.approx(1.0, rel=1e-4)
    assert result.alignment.residual < 1e-3
    assert result.alignment.pairs >= 12  # every face meets its four neighbours


def test_depth_seam_score_is_seamless(merged) -> None:
    _truth, result, _source = merged
    assert seam_score(result.distance) <= 1.2
    # The score is sensitive: half the map shifted by 37 rows makes a hard seam.
    broken = np.concatenate(
        [result.distance[:, : WIDTH // 2], np.roll(result.distance, 37, axis=0)[:, WIDTH // 2 :]], axis=1
    )
    assert seam_score(broken) > 2.0


def test_disparity_views_with_random_scale_and_shift_are_undone_too() -> None:
    from dit360_desktop.core.depth.merge import DISPARITY

    rgb, truth = room_panorama(256, 128)
    result = estimate_distance(rgb, ExactZDepthSource(seed=11, kind=DISPARITY), views=cube_views(256))
    assert float(_relative_error(truth, result.distance).max()) < 0.01
    assert seam_score(result.distance) <= 1.2
