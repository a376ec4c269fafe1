"""`dit360 edit` with the same mask in several formats, end to end on the tiny model: every pixel outside
the mask plus its feather band is the input's, exactly, and the library keeps the mask the edit used."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.cli import main
from dit360_desktop.history.library import Library
from dit360_desktop.panorama.mask import dilate, read_mask

WIDTH, HEIGHT = 128, 64
RECT = (slice(16, 48), slice(48, 80))
FEATHER = 4


def painted() -> np.ndarray:
    values = np.zeros((HEIGHT, WIDTH), np.uint8)
    values[RECT] = 255
    return values


def white_on_transparent(path):
    rgba = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[..., 3][RECT] = 255
    Image.fromarray(rgba, "RGBA").save(path)


FORMATS = {
    "grey.png": lambda path: Image.fromarray(painted(), "L").save(path),
    "white-on-transparent.png": white_on_transparent,
    "quality-10.jpg": lambda path: Image.fromarray(painted(), "L").save(path, quality=10),
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_kept_pixels_are_exact_whatever_the_mask_format(name, tiny_flux_dir, tmp_path, capsys):
    rng = np.random.default_rng(2)
    pano = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    Image.fromarray(pano).save(tmp_path / "pano.png")
    mask = tmp_path / name
    FORMATS[name](mask)
    out, library = tmp_path / "out.png", tmp_path / "library"
    code = main(
        [
            *("edit", "--image", str(tmp_path / "pano.png"), "--mask", str(mask), "--prompt", "a red barn"),
            *("--model", str(tiny_flux_dir), "--steps", "2", "--seed", "4", "--device", "cpu"),
            *("--lora", "none", "--feather", str(FEATHER), "--quiet", "--output", str(out)),
            *("--library", str(library)),
        ]
    )
    assert code == 0, capsys.readouterr().err
    result = np.asarray(Image.open(out).convert("RGB"))
    # A lossy mask may reach one 8×8 block further; nothing beyond that and the feather changes.
    reach = FEATHER + (8 if name.endswith(".jpg") else 0)
    kept = ~dilate(painted() > 0, reach)
    assert np.array_equal(result[kept], pano[kept])
    assert not np.array_equal(result[RECT], pano[RECT])
    with Library.open(library) as lib:
        (entry,) = lib.search()
        stored = np.asarray(Image.open(entry.path.with_name(entry.path.stem + ".mask.png")))
    assert np.array_equal(stored, read_mask(mask))
