"""The shared limits: what a ``Limit`` accepts, and that the per-pixel memory costs used to refuse sizes
are upper bounds of what the code really takes (measured here with tracemalloc)."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from dit360_desktop.panorama import limits
from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.placement import place_photo
from dit360_desktop.panorama.projection import equirect_to_perspective


@pytest.mark.parametrize(
    ("limit", "value", "problem"),
    [
        (limits.LIMITS["pitch"], 90.0, None),
        (limits.LIMITS["pitch"], 90.5, "between"),
        (limits.LIMITS["pitch"], math.nan, "finite"),
        (limits.LIMITS["pitch"], -math.inf, "finite"),
        (limits.LIMITS["face_size"], 16.5, "whole"),
        (limits.parameter_limit("width"), 2048, None),
        (limits.parameter_limit("width"), 2040, "multiple of 16"),
        (limits.LIMITS["seed"], 2**32, "between 0 and 4294967295"),
        (limits.LIMITS["yaw"], True, "a number"),
    ],
)
def test_limit_problems(limit, value, problem):
    found = limit.problem(value)
    assert (found is None) if problem is None else (problem in found), found


def _peak_per_pixel(run, pixels: int) -> float:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1] / pixels
    finally:
        tracemalloc.stop()


def test_projection_cost_is_an_upper_bound():
    pano = np.zeros((512, 1024, 3), np.uint8)
    for width, height in ((2048, 1024), (4096, 2048)):
        pixels = width * height
        peak = pixels * _peak_per_pixel(
            lambda w=width, h=height: equirect_to_perspective(pano, 0, 0, 90, w, h), pixels
        )
        bound = pixels * limits.BYTES_PER_PROJECTED_PIXEL + limits.PROJECTION_OVERHEAD_BYTES
        assert peak <= bound, (width, height, peak / 2**20)


def test_placement_cost_is_an_upper_bound():
    photo = np.zeros((300, 400, 3), np.uint8)
    per_pixel = _peak_per_pixel(
        lambda: place_photo(photo, yaw=0, pitch=0, roll=0, fov=60, width=1024, height=512, feather=8),
        1024 * 512,
    )
    assert per_pixel <= limits.BYTES_PER_PLACED_PIXEL, per_pixel


def test_refusal_names_what_and_how_much(monkeypatch):
    monkeypatch.setattr(limits, "available_memory", lambda: 2 * 2**30)
    limits.check_fits_in_memory("size", "a small view", 1000, 48, "Choose less.")
    with pytest.raises(RequestError) as caught:
        limits.check_fits_in_memory("size", "a 16384×16384 view", 16384 * 16384, 48, "Choose less.")
    assert str(caught.value) == (
        "size: a 16384×16384 view needs about 12.0 GiB of memory, but this machine has 2.0 GiB available. "
        "Choose less."
    )
