"""Photo → 360°: the placed photo reprojects onto itself, agrees with py360convert, and the mask is right."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.placement import (
    DEFAULT_FOV,
    check_fov,
    estimate_fov,
    fov_from_35mm,
    place_photo,
)
from dit360_desktop.panorama.projection import equirect_to_perspective, sample_equirect

PHOTO_H, PHOTO_W = 120, 160
WIDTH, HEIGHT = 1024, 512


def smooth_photo(height: int = PHOTO_H, width: int = PHOTO_W) -> np.ndarray:
    # Low-frequency content: resampling twice (placement, then reprojection) loses almost nothing.
    yy, xx = np.mgrid[0:height, 0:width]
    channels = [
        128 + 100 * np.sin(xx / 9.0),
        128 + 100 * np.cos(yy / 7.0),
        128 + 60 * np.sin((xx + yy) / 11.0),
    ]
    return np.stack(channels, axis=-1).astype(np.uint8)


def view_with_roll(canvas, yaw, pitch, roll, fov, width, height) -> np.ndarray:
    """A pinhole render written out here (not taken from placement.py): ray → roll → pitch → yaw."""
    tan_x = math.tan(math.radians(fov) / 2)
    tan_y = tan_x * height / width
    x = ((np.arange(width) + 0.5) * 2 / width - 1) * tan_x
    y = (1 - (np.arange(height) + 0.5) * 2 / height) * tan_y
    cx, cy = np.meshgrid(x, y)
    cz = np.ones_like(cx)
    r, p, a = (math.radians(v) for v in (roll, pitch, yaw))
    cx, cy = cx * math.cos(r) - cy * math.sin(r), cx * math.sin(r) + cy * math.cos(r)
    cy, cz = cy * math.cos(p) + cz * math.sin(p), -cy * math.sin(p) + cz * math.cos(p)
    cx, cz = cx * math.cos(a) + cz * math.sin(a), -cx * math.sin(a) + cz * math.cos(a)
    return sample_equirect(canvas, np.stack([cx, cy, cz], axis=-1))


@pytest.mark.parametrize(("yaw", "pitch"), [(0, 0), (40, 20), (-120, -35), (179, 10)])
def test_reprojection_matches_the_photo_inside_its_footprint(yaw, pitch) -> None:
    photo = smooth_photo()
    canvas, mask = place_photo(photo, yaw=yaw, pitch=pitch, fov=70, width=WIDTH, height=HEIGHT, feather=8)
    assert canvas.shape == (HEIGHT, WIDTH, 3) and mask.shape == (HEIGHT, WIDTH)
    back = equirect_to_perspective(canvas, yaw, pitch, 70, PHOTO_W, PHOTO_H)
    error = np.abs(back.astype(int) - photo.astype(int))[3:-3, 3:-3]
    assert error.mean() < 0.5
    assert error.max() <= 3


def test_roll_turns_the_photo_counter_clockwise() -> None:
    photo = smooth_photo()
    canvas, _ = place_photo(photo, yaw=30, pitch=10, roll=25, fov=70, width=WIDTH, height=HEIGHT)
    back = view_with_roll(canvas, 30, 10, 25, 70, PHOTO_W, PHOTO_H)
    assert np.abs(back.astype(int) - photo.astype(int))[3:-3, 3:-3].mean() < 0.5
    unrolled = equirect_to_perspective(canvas, 30, 10, 70, PHOTO_W, PHOTO_H)
    assert np.abs(unrolled.astype(int) - photo.astype(int)).mean() > 10


def test_agrees_with_py360convert() -> None:
    py360convert = pytest.importorskip("py360convert")
    photo = smooth_photo()
    vfov = math.degrees(2 * math.atan(math.tan(math.radians(35)) * PHOTO_H / PHOTO_W))
    for yaw, pitch, roll in [(40, 20, 0), (-70, -15, 0), (40, 20, 15)]:
        canvas, _ = place_photo(photo, yaw=yaw, pitch=pitch, roll=roll, fov=70, width=WIDTH, height=HEIGHT)
        # py360convert's u is our yaw and v our pitch; its in_rot_deg turns the other way from our roll.
        view = py360convert.e2p(canvas, (70, vfov), yaw, pitch, (PHOTO_H, PHOTO_W), -roll, mode="bilinear")
        error = np.abs(view.astype(int) - photo.astype(int))[4:-4, 4:-4]
        # py360convert puts pixel centres half a pixel differently; the pictures still agree closely.
        assert error.mean() < 3.0, (yaw, pitch, roll)
        mirrored = py360convert.e2p(canvas, (70, vfov), -yaw, pitch, (PHOTO_H, PHOTO_W), -roll)
        assert np.abs(mirrored.astype(int) - photo.astype(int)).mean() > 20


def test_mask_is_white_outside_and_feathered_into_the_photo() -> None:
    photo = smooth_photo()
    canvas, mask = place_photo(photo, yaw=0, pitch=0, fov=60, width=WIDTH, height=HEIGHT, feather=6)
    centre_row = HEIGHT // 2
    row = mask[centre_row]
    assert row[0] == 255 and row[-1] == 255
    assert (
        row[WIDTH // 2] == 0
        and mask[centre_row - 20 : centre_row + 20, WIDTH // 2 - 40 : WIDTH // 2 + 40].max() == 0
    )
    # Photo is 60° wide = 1024 · 60/360 ≈ 171 px; its left edge is near x = 512 - 85.
    left = WIDTH // 2 - 85
    ramp = row[left - 3 : left + 10].astype(int)
    assert ramp[0] == 255 and ramp[-1] == 0
    assert np.all(np.diff(ramp) <= 0) and 0 < ramp[6] < 255
    # Outside the footprint the canvas is the photo's mean colour, not black.
    assert np.allclose(canvas[5, 5], photo.reshape(-1, 3).mean(axis=0), atol=1)


def test_mask_wraps_when_the_photo_crosses_the_seam() -> None:
    canvas, mask = place_photo(
        smooth_photo(), yaw=180, pitch=0, fov=60, width=WIDTH, height=HEIGHT, feather=6
    )
    centre = mask[HEIGHT // 2]
    assert centre[0] == 0 and centre[-1] == 0 and centre[WIDTH // 2] == 255
    assert abs(int(canvas[HEIGHT // 2, 0, 0]) - int(canvas[HEIGHT // 2, -1, 0])) < 40


def test_large_photos_are_filtered_before_sampling() -> None:
    # A one-pixel checkerboard averages to grey; sampled without a prefilter it would alias into stripes.
    checker = ((np.indices((1200, 1600)).sum(axis=0) % 2) * 255).astype(np.uint8)
    photo = np.repeat(checker[..., None], 3, axis=2)
    canvas, mask = place_photo(photo, yaw=0, pitch=0, fov=60, width=WIDTH, height=HEIGHT)
    inner = canvas[mask == 0].astype(float)
    assert abs(inner.mean() - 127.5) < 3 and inner.std() < 6


@pytest.mark.parametrize("fov", [5.0, 9.99, 170.5, float("nan"), "60"])
def test_fov_outside_10_to_170_is_refused(fov) -> None:
    with pytest.raises(RequestError) as info:
        check_fov(fov)
    assert info.value.field == "fov" and "between 10° and 170°" in str(info.value)
    with pytest.raises(RequestError):
        place_photo(smooth_photo(), fov=fov, width=64, height=32)


def test_fov_from_35mm_equivalent_focal_length() -> None:
    # 3:2 full frame: the equivalent width is 36 mm, so 18 mm → 2·atan(1) = 90°.
    assert fov_from_35mm(18, 3000, 2000) == pytest.approx(90.0)
    # A 4:3 phone photo at 26 mm: width 43.27·0.8 = 34.6 mm → 67.3°.
    assert fov_from_35mm(26, 4000, 3000) == pytest.approx(67.3, abs=0.1)
    # Portrait: the same lens sees less horizontally.
    assert fov_from_35mm(26, 3000, 4000) < fov_from_35mm(26, 4000, 3000)


def test_estimate_fov_reads_exif_and_falls_back(tmp_path) -> None:
    path = tmp_path / "phone.jpg"
    image = Image.fromarray(smooth_photo(300, 400))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 26
    image.save(path, exif=exif)
    fov, why = estimate_fov(path)
    assert fov == pytest.approx(fov_from_35mm(26, 400, 300)) and "26 mm" in why
    plain = tmp_path / "plain.png"
    image.save(plain)
    assert estimate_fov(plain) == (DEFAULT_FOV, pytest.approx(estimate_fov(plain)[1]))
    assert estimate_fov(plain)[0] == 60.0 and "using 60°" in estimate_fov(plain)[1]
