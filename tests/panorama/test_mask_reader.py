"""One mask rule for every format: transparency = keep, luminance, compression noise thresholded.

Each row writes the same mask (a white rectangle on black) in another format and checks what
``read_mask`` makes of it, and that the blend composite keeps every pixel outside the feather band exact.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.mask import (
    MASK_NOISE_LEVELS,
    composite,
    dilate,
    feather_alpha,
    load_mask,
    read_mask,
)

WIDTH, HEIGHT = 256, 128
RECT = (slice(40, 88), slice(96, 160))


def painted() -> np.ndarray:
    values = np.zeros((HEIGHT, WIDTH), np.uint8)
    values[RECT] = 255
    return values


def white_on_transparent(path):
    rgba = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    rgba[..., :3] = 255  # white everywhere, but only the rectangle is opaque
    rgba[..., 3][RECT] = 255
    Image.fromarray(rgba, "RGBA").save(path)


def grey_alpha(path):
    la = np.zeros((HEIGHT, WIDTH, 2), np.uint8)
    la[..., 0] = 255
    la[..., 1][RECT] = 255
    Image.fromarray(la, "LA").save(path)


def palette_transparency(path):
    image = Image.fromarray(painted(), "L").convert("P")
    image.info["transparency"] = 0
    image.save(path, transparency=0)


def coloured(path):
    rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    rgb[RECT] = (255, 255, 255)
    Image.fromarray(rgb, "RGB").save(path)


def jpeg(quality):
    def write(path):
        Image.fromarray(painted(), "L").convert("RGB").save(path, format="JPEG", quality=quality)

    return write


def sixteen_bit(path):
    Image.fromarray(painted().astype(np.uint16) * 257).save(path)


FORMATS = {
    "grey-png": lambda path: Image.fromarray(painted(), "L").save(path),
    "rgb-png": coloured,
    "white-on-transparent-rgba": white_on_transparent,
    "grey-alpha": grey_alpha,
    "palette-transparency": palette_transparency,
    "jpeg-q90": jpeg(90),
    "jpeg-q10": jpeg(10),
    "16-bit": sixteen_bit,
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_reads_as_the_painted_rectangle(tmp_path, name):
    path = tmp_path / f"mask-{name}.{'jpg' if name.startswith('jpeg') else 'png'}"
    FORMATS[name](path)
    values = read_mask(path)
    assert values.shape == (HEIGHT, WIDTH) and values.dtype == np.uint8
    expected = painted()
    if name.startswith("jpeg"):
        # Lossy: the rectangle's inside is white and everything more than one 8×8 block away is black.
        assert (values[48:80, 104:152] == 255).all()
        far = ~dilate(expected > 0, 8)
        assert (values[far] == 0).all()
    else:
        assert np.array_equal(values, expected)
    # The regenerated share is the rectangle's (about 9 %), never the whole picture.
    share = (values > 0).mean()
    assert 0.08 < share < 0.13, share


@pytest.mark.parametrize("name", list(FORMATS))
def test_kept_pixels_stay_exact_outside_the_feather_band(tmp_path, name):
    path = tmp_path / f"mask-{name}.{'jpg' if name.startswith('jpeg') else 'png'}"
    FORMATS[name](path)
    feather = 8
    mask = load_mask(path, (WIDTH, HEIGHT))
    alpha = feather_alpha(mask, feather)
    rng = np.random.default_rng(3)
    original = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    generated = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    out = composite(original, generated, alpha)
    # Lossy formats may spread the support by one 8×8 block; nothing beyond that and the feather changes.
    reach = feather + (8 if name.startswith("jpeg") else 0)
    band = dilate(painted() > 0, reach)
    assert np.array_equal(out[~band], original[~band])
    assert (out[RECT] == generated[RECT]).all()


def test_noise_threshold_is_symmetric_and_keeps_partial_grey(tmp_path):
    values = np.array([[0, MASK_NOISE_LEVELS, MASK_NOISE_LEVELS + 1, 128, 240 - 1, 240, 255]], np.uint8)
    Image.fromarray(np.repeat(np.repeat(values, 2, 0), 2, 1), "L").save(tmp_path / "m.png")
    row = read_mask(tmp_path / "m.png")[0, ::2]
    assert row.tolist() == [0, 0, MASK_NOISE_LEVELS + 1, 128, 239, 255, 255]


def test_fully_transparent_mask_has_nothing_to_regenerate(tmp_path):
    Image.new("RGBA", (WIDTH, HEIGHT), (255, 255, 255, 0)).save(tmp_path / "m.png")
    with pytest.raises(RequestError, match="nothing to regenerate"):
        load_mask(tmp_path / "m.png", (WIDTH, HEIGHT))


def test_the_library_stores_the_mask_the_edit_read(tmp_path):
    from dit360_desktop.history.lineage import lineage_of
    from dit360_desktop.panorama.request import GenerationRequest

    white_on_transparent(tmp_path / "m.png")
    Image.new("RGB", (WIDTH, HEIGHT)).save(tmp_path / "pano.png")
    request = GenerationRequest(
        prompt="x", init_image=str(tmp_path / "pano.png"), mask_image=str(tmp_path / "m.png")
    )
    stored = np.asarray(Image.open(io.BytesIO(lineage_of(request, tmp_path / "library").mask_png)))
    assert np.array_equal(stored, read_mask(tmp_path / "m.png"))
    assert np.array_equal(stored, painted())
