"""Seam and pole scores on synthetic panoramas whose seam and poles are known."""

from __future__ import annotations

import numpy as np
import pytest

from dit360_desktop.panorama import projection, qa


def sphere_texture(height: int = 256, seed: int = 0) -> np.ndarray:
    """Sum of random plane waves over the unit direction: the same detail everywhere on the sphere,
    continuous across the seam and over the poles (built from the documented mapping, not the module)."""
    width = 2 * height
    u = (np.arange(width) + 0.5) / width
    v = (np.arange(height) + 0.5) / height
    yaw = (u[None, :] - 0.5) * 2 * np.pi
    pitch = (0.5 - v[:, None]) * np.pi
    d = np.stack([np.cos(pitch) * np.sin(yaw), np.sin(pitch) + 0 * yaw, np.cos(pitch) * np.cos(yaw)], -1)
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3))
    for _ in range(24):
        k = rng.normal(size=3)
        k *= 30.0 / np.linalg.norm(k)
        image += np.sin(d @ k + rng.uniform(0, 2 * np.pi))[..., None] * rng.uniform(0.5, 1.0, 3)
    image = (image - image.min()) / (image.max() - image.min())
    return np.rint(image * 255).astype(np.uint8)


def with_seam(image: np.ndarray, rows: slice = slice(None), amount: float = 60.0) -> np.ndarray:
    """Add a brightness ramp that climbs across the width and drops back at the seam."""
    ramp = np.linspace(0.0, amount, image.shape[1])[None, :, None]
    out = image.astype(np.float64)
    out[rows] += ramp
    return np.clip(out, 0, 255).astype(np.uint8)


def test_seam_score_is_about_one_without_a_seam_and_high_with_one() -> None:
    image = sphere_texture()
    assert 0.8 < qa.seam_score(image) < 1.2
    seamed = with_seam(image)
    assert qa.seam_score(seamed) > 3
    # The same image rolled by half a turn has its step in the middle and no seam at the edge.
    assert qa.seam_score(np.roll(seamed, seamed.shape[1] // 2, axis=1)) < 1.2


def test_seam_score_known_value_on_a_ramp() -> None:
    # A horizontal ramp 0…1 in every row: each interior step is 1/(W−1), the seam step is 1.
    width = 64
    ramp = np.tile(np.linspace(0.0, 1.0, width), (8, 1))
    expected = (1.0 + 1e-6) / (1.0 / (width - 1) + 1e-6)
    assert qa.seam_score(ramp) == pytest.approx(expected, rel=1e-9)


def test_one_definition_everywhere() -> None:
    image = with_seam(sphere_texture(128))
    assert projection.discontinuity_score(image) == qa.seam_score(image)
    assert qa.assess(image).seam == pytest.approx(qa.seam_score(image))
    assert qa.seam_row_steps(image).mean() == pytest.approx(qa.seam_score(image))


def test_row_steps_locate_the_seam_rows() -> None:
    image = sphere_texture()
    seamed = with_seam(image, rows=slice(100, 140))
    steps = qa.seam_row_steps(seamed)
    assert steps.shape == (image.shape[0],)
    inside, outside = steps[100:140], np.concatenate([steps[:100], steps[140:]])
    assert inside.min() > 3 * outside.mean()
    assert 100 <= int(np.argmax(steps)) < 140
    assert qa.assess(seamed).to_json()["seam_worst_row"] in range(100, 140)


def test_pole_scores_about_one_on_uniform_detail() -> None:
    north, south = qa.pole_smear_scores(sphere_texture())
    assert 0.5 < north < 2.0
    assert 0.5 < south < 2.0


def test_smeared_north_cap_scores_high_and_south_stays() -> None:
    image = sphere_texture()
    smeared = image.copy()
    cap_rows = round(image.shape[0] * 15 / 180)
    # A generator's smear: a featureless blob of the cap's mean colour with a little noise in it.
    noise = np.random.default_rng(1).integers(-2, 3, size=smeared[:cap_rows].shape)
    smeared[:cap_rows] = np.clip(image[:cap_rows].mean(axis=(0, 1)) + noise, 0, 255).astype(np.uint8)
    north, south = qa.pole_smear_scores(smeared)
    assert north > 10
    assert south == pytest.approx(qa.pole_smear_scores(image)[1])
    report = qa.assess(smeared)
    assert report.poles_poor and not report.seam_poor
    assert any("top (zenith)" in v for v in report.verdicts)
    assert not any("bottom" in v for v in report.verdicts)


def test_verdicts_in_words() -> None:
    good = qa.assess(sphere_texture())
    assert good.verdicts == () and not good.poor
    bad = qa.assess(with_seam(sphere_texture()))
    assert bad.seam_poor
    assert bad.verdicts[0].startswith("Visible seam") and "Fix seam" in bad.verdicts[0]
    data = bad.to_json()
    assert data["poor"] is True and data["seam_score"] == pytest.approx(bad.seam, abs=1e-4)


def test_flat_image_scores_one() -> None:
    flat = np.full((64, 128, 3), 90, np.uint8)
    assert qa.seam_score(flat) == pytest.approx(1.0)
    assert qa.pole_smear_scores(flat) == pytest.approx((1.0, 1.0))


def test_heat_strip_colours() -> None:
    strip = qa.heat_strip_colours(np.array([1.0, qa.SEAM_FAINT, qa.SEAM_POOR, 50.0]), width=3)
    assert strip.shape == (4, 3, 3) and strip.dtype == np.uint8
    assert tuple(strip[0, 0]) == (0, 255, 0)
    assert tuple(strip[1, 0]) == (255, 255, 0)
    assert tuple(strip[2, 0]) == (255, 0, 0)
    assert tuple(strip[3, 2]) == (255, 0, 0)


@pytest.mark.parametrize("shape", [(64, 3, 3), (4, 8), (0, 8, 3)])
def test_bad_shapes_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        qa.assess(np.zeros(shape, np.uint8))
