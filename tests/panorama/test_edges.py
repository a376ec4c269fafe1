"""Seam-aware Canny edges (panorama/edges.py), the control image for the Canny Control LoRA."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from dit360_desktop.panorama.edges import MISSING_OPENCV, canny_edges
from dit360_desktop.panorama.features import FeatureUnavailableError


def _detailed(height: int = 128, width: int = 256) -> np.ndarray:
    # Blocks and stripes of several contrasts, some across the seam: a smooth gradient has no edges.
    rng = np.random.default_rng(3)
    pixels = np.full((height, width, 3), 50, np.uint8)
    for _ in range(24):
        y, x = rng.integers(0, height - 20), rng.integers(0, width)
        h, w = rng.integers(6, 20), rng.integers(6, 60)
        cols = np.arange(x, x + w) % width
        pixels[y : y + h, cols] = rng.integers(0, 256, 3, dtype=np.uint8)
    return pixels


def test_the_seam_is_an_ordinary_place() -> None:
    """Rolling the panorama rolls its edges: an edge across 0/360° is found on both sides, and the seam
    itself gives none (the columns away from it are the detector's own)."""
    pixels = _detailed()
    edges = canny_edges(pixels)
    assert edges.shape == pixels.shape and edges.dtype == np.uint8
    assert set(np.unique(edges)) <= {0, 255} and edges.any()
    assert np.array_equal(edges[..., 0], edges[..., 2])
    for shift in (1, 37, 128):
        rolled = canny_edges(np.roll(pixels, shift, axis=1))
        assert np.array_equal(rolled, np.roll(edges, shift, axis=1)), shift
    flat = np.full((64, 128, 3), 90, np.uint8)
    assert not canny_edges(flat).any()


def test_without_opencv_it_is_a_sentence(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 raises ImportError
    with pytest.raises(FeatureUnavailableError) as caught:
        canny_edges(_detailed())
    assert str(caught.value) == MISSING_OPENCV and caught.value.exit_code == 3
