"""Edit masks: bad masks are refused with clear errors; dilation, feathering and the composite wrap."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.panorama.errors import ImageLoadError, RequestError
from dit360_desktop.panorama.mask import composite, dilate, feather_alpha, fit_mask, load_mask


def write(path, array) -> str:
    Image.fromarray(array).save(path)
    return str(path)


def test_load_mask_reads_white_as_regenerate(tmp_path) -> None:
    array = np.zeros((64, 128), np.uint8)
    array[10:20, 30:40] = 255
    array[40:50, 60:70] = 128
    mask = load_mask(write(tmp_path / "m.png", array), (256, 128))
    assert mask.shape == (64, 128) and mask.dtype == np.float32
    assert mask[15, 35] == 1.0 and mask[45, 65] == pytest.approx(128 / 255) and mask[0, 0] == 0.0


def test_mask_of_another_aspect_is_refused(tmp_path) -> None:
    path = write(tmp_path / "m.png", np.full((100, 100), 255, np.uint8))
    with pytest.raises(RequestError) as info:
        load_mask(path, (256, 128))
    assert info.value.field == "mask_image" and "100×100" in str(info.value) and "256×128" in str(info.value)


def test_all_black_mask_is_refused(tmp_path) -> None:
    path = write(tmp_path / "m.png", np.zeros((64, 128), np.uint8))
    with pytest.raises(RequestError, match="nothing to regenerate"):
        load_mask(path, (256, 128))


def test_unreadable_mask_goes_through_the_safe_loader(tmp_path) -> None:
    bad = tmp_path / "m.png"
    bad.write_bytes(b"GIF89a not really")
    with pytest.raises(ImageLoadError, match="GIF"):
        load_mask(bad, (256, 128))
    with pytest.raises(ImageLoadError, match="does not exist"):
        load_mask(tmp_path / "missing.png", (256, 128))


def test_fit_pad_marks_the_padding_for_regeneration() -> None:
    mask = np.zeros((100, 100), np.float32)
    fitted = fit_mask(mask, 256, 128, "pad")
    assert fitted.shape == (128, 256)
    assert fitted[64, 0] == 1.0 and fitted[64, 128] == 0.0


def test_feather_band_is_exact_and_wraps_across_the_seam() -> None:
    mask = np.zeros((64, 128), np.float32)
    mask[20:40, 124:] = 1.0
    mask[20:40, :4] = 1.0
    alpha = feather_alpha(mask, 5)
    assert np.all(alpha[mask > 0] == 1.0)
    # Both sides of the seam soften the same way: the picture mirrored about the seam is the same alpha.
    assert np.allclose(alpha[:, :64], alpha[:, ::-1][:, :64])
    rows, cols = np.indices(mask.shape)
    in_cols = (cols < 4) | (cols >= 124)
    col_gap = np.where(in_cols, 0, np.minimum(cols - 3, 124 - cols))
    row_gap = np.where((rows >= 20) & (rows < 40), 0, np.maximum(20 - rows, rows - 39))
    chebyshev = np.maximum(col_gap, row_gap)
    assert np.all(alpha[chebyshev > 5] == 0.0)
    assert np.all(alpha[(chebyshev >= 1) & (chebyshev <= 3)] > 0.0)


def test_dilation_continues_over_the_pole() -> None:
    support = np.zeros((32, 64), bool)
    support[0, 0] = True
    grown = dilate(support, 1)
    # Across the north pole the neighbour of (0, 0) is (0, 32): half a turn away.
    assert grown[0, 32] and grown[0, 63] and grown[1, 1] and not grown[5, 5]


def test_composite_keeps_pixels_where_alpha_is_zero_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    original = rng.integers(0, 256, (16, 32, 3), dtype=np.uint8)
    generated = rng.integers(0, 256, (16, 32, 3), dtype=np.uint8)
    alpha = np.zeros((16, 32), np.float32)
    alpha[4:8, 4:8] = 1.0
    alpha[4:8, 8] = 0.5
    out = composite(original, generated, alpha)
    assert np.array_equal(out[alpha == 0], original[alpha == 0])
    assert np.array_equal(out[alpha == 1], generated[alpha == 1])
    half = np.rint((original[4:8, 8].astype(float) + generated[4:8, 8]) / 2)
    assert np.all(np.abs(out[4:8, 8] - half) <= 1)
