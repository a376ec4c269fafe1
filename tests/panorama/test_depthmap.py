"""Distance maps on disk: the one-channel Z EXR, the 16-bit PNG, and what --depth refuses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
from PIL import Image

from dit360_desktop.panorama.depthmap import (
    PNG_DEPTH_KEY,
    read_distance,
    resample_distance,
    save_distance_exr,
    save_distance_png,
)
from dit360_desktop.panorama.errors import RequestError


def _distance(width: int = 64, height: int = 32) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.uniform(0.5, 12.0, (height, width)).astype(np.float32)


def test_exr_holds_one_float32_channel_named_z_exactly(tmp_path: Path) -> None:
    distance = _distance()
    path = save_distance_exr(distance, tmp_path / "d.exr")
    with OpenEXR.File(str(path)) as exr:
        channels = exr.channels()
        assert list(channels) == ["Z"]
        pixels = np.array(channels["Z"].pixels)
    assert pixels.dtype == np.float32
    np.testing.assert_array_equal(pixels, distance)
    np.testing.assert_array_equal(read_distance(path), distance)
    assert [p.name for p in tmp_path.iterdir()] == ["d.exr"]


def test_png_is_16_bit_near_bright_with_its_mapping(tmp_path: Path) -> None:
    distance = _distance()
    path = save_distance_png(distance, tmp_path / "d.png", {"metric": False})
    with Image.open(path) as image:
        levels = np.array(image)
        mapping = json.loads(image.text[PNG_DEPTH_KEY])
    assert levels.dtype in (np.uint16, np.int32) and levels.max() == 65535 and levels.min() == 0
    near = np.unravel_index(distance.argmin(), distance.shape)
    far = np.unravel_index(distance.argmax(), distance.shape)
    assert levels[near] == 65535 and levels[far] == 0
    assert mapping["near"] == pytest.approx(float(distance.min()))
    assert mapping["far"] == pytest.approx(float(distance.max()))
    # The mapping undoes: 1/d = 1/far + level/65535 · (1/near − 1/far).
    inverse = 1 / mapping["far"] + levels / 65535 * (1 / mapping["near"] - 1 / mapping["far"])
    np.testing.assert_allclose(1 / inverse, distance, rtol=2e-3)


@pytest.mark.parametrize(
    ("values", "words"),
    [
        (np.full((32, 48), 2.0, np.float32), "twice as wide"),
        (np.where(np.eye(32, 64) > 0, np.nan, 2.0).astype(np.float32), "NaN"),
        (np.where(np.eye(32, 64) > 0, np.inf, 2.0).astype(np.float32), "infinite"),
        (np.where(np.eye(32, 64) > 0, -1.0, 2.0).astype(np.float32), "at or below zero"),
        (np.zeros((32, 64), np.float32), "at or below zero"),
    ],
)
def test_bad_depth_files_are_refused_with_a_sentence(tmp_path: Path, values: np.ndarray, words: str) -> None:
    path = tmp_path / "bad.exr"
    with OpenEXR.File(
        {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, {"Z": values}
    ) as exr:
        exr.write(str(path))
    with pytest.raises(RequestError, match=words) as caught:
        read_distance(path)
    assert caught.value.exit_code == 2 and caught.value.field == "depth"


def test_a_png_depth_is_refused_as_having_lost_its_scale(tmp_path: Path) -> None:
    path = save_distance_png(_distance(), tmp_path / "d.png")
    with pytest.raises(RequestError, match="lost its scale"):
        read_distance(path)


def test_resampling_wraps_across_the_seam() -> None:
    distance = np.ones((4, 8), np.float32)
    distance[:, 0] = 4.0
    wider = resample_distance(distance, 16, 8)
    # The last output column sits between source columns 7 and 0: it sees the 4 m column.
    # (log-linear: 4^0.25 a quarter of the way, 4^0.75 three quarters).
    np.testing.assert_allclose(wider[:, -1], 4.0**0.25, rtol=1e-5)
    np.testing.assert_allclose(wider[:, 0], 4.0**0.75, rtol=1e-5)
