"""Every platform icon comes from the one drawn master, in the sizes each platform asks for."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from icons.make_icons import ICO_SIZES, MASTER_SIZE, PNG_SIZES, draw_master, make_icons
from PIL import Image


@pytest.fixture(scope="module")
def icon_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_icons(tmp_path_factory.mktemp("icons"))


def test_master_is_a_drawn_square_with_transparent_corners(icon_files: dict[str, Path]) -> None:
    master = Image.open(icon_files["png"])
    assert master.size == (MASTER_SIZE, MASTER_SIZE)
    assert master.mode == "RGBA"
    pixels = np.asarray(master)
    assert pixels[0, 0, 3] == 0 and pixels[-1, -1, 3] == 0
    middle = slice(MASTER_SIZE // 2 - 100, MASTER_SIZE // 2 + 100)
    centre = pixels[middle, middle]
    assert (centre[..., 3] == 255).all()
    # A picture, not a flat tile: many distinct colours.
    assert len(np.unique(pixels.reshape(-1, 4), axis=0)) > 1000


def test_png_sizes_for_the_linux_hicolor_theme(icon_files: dict[str, Path]) -> None:
    for size in PNG_SIZES:
        assert Image.open(icon_files[f"png{size}"]).size == (size, size)


def test_ico_holds_every_windows_size(icon_files: dict[str, Path]) -> None:
    ico = Image.open(icon_files["ico"])
    assert ico.format == "ICO"
    assert set(ico.info["sizes"]) == {(size, size) for size in ICO_SIZES}


def test_icns_holds_retina_sizes_up_to_1024(icon_files: dict[str, Path]) -> None:
    icns = Image.open(icon_files["icns"])
    assert icns.format == "ICNS"
    assert (512, 512, 2) in icns.info["sizes"]
    assert (16, 16, 2) in icns.info["sizes"]
    # Pillow opens the largest image: 512 px at scale 2.
    assert icns.size == (1024, 1024)
    # Same picture as the master, up to resampling.
    master = np.asarray(Image.open(icon_files["png"]), float)
    difference = np.abs(np.asarray(icns.convert("RGBA"), float) - master)
    assert difference.mean() < 2.0


def test_drawing_is_deterministic() -> None:
    first, second = draw_master(128), draw_master(128)
    assert hashlib.sha256(first.tobytes()).digest() == hashlib.sha256(second.tobytes()).digest()
