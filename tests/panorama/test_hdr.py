"""Linear exports: sRGB→linear at known values, EXR and Radiance HDR read back by independent readers
(OpenEXR's own reader, OpenCV's RGBE decoder), round trips, highlight expansion, cube orientation."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.history.export import ExportOptions, default_file_name, export_image
from dit360_desktop.panorama import hdr, projection
from dit360_desktop.panorama.errors import RequestError

OpenEXR = pytest.importorskip("OpenEXR")
cv2 = pytest.importorskip("cv2")


def read_exr(path) -> np.ndarray:
    with OpenEXR.File(str(path)) as exr:
        header = exr.header()
        assert header["compression"] == OpenEXR.ZIP_COMPRESSION
        assert tuple(round(v, 4) for v in header["chromaticities"]) == hdr.REC709_CHROMATICITIES
        pixels = exr.channels()["RGB"].pixels
    assert pixels.dtype == np.float16
    return pixels.astype(np.float64)


def read_hdr(path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert bgr is not None and bgr.dtype == np.float32
    return bgr[..., ::-1].astype(np.float64)


def analytic(width: int = 256) -> np.ndarray:
    """Colour = (d + 1)/2 of the pixel's direction, from the documented equirect mapping."""
    return np.rint((projection.equirect_directions(width, width // 2) * 0.5 + 0.5) * 255).astype(np.uint8)


def ramp_image() -> np.ndarray:
    """Every 8-bit level in each channel, on a 2:1 canvas."""
    levels = np.arange(256, dtype=np.uint8)
    image = np.zeros((64, 128, 3), np.uint8)
    image[..., 0] = np.resize(levels, (64, 128))
    image[..., 1] = np.resize(levels[::-1], (64, 128))
    image[..., 2] = np.resize(np.roll(levels, 77), (64, 128))
    return image


@pytest.mark.parametrize(
    ("level", "linear"),
    [
        (0, 0.0),
        (255, 1.0),
        (10, 10 / 255 / 12.92),  # below the 0.04045 threshold: the linear segment
        (11, ((11 / 255 + 0.055) / 1.055) ** 2.4),  # just above it: the power segment
        (128, 0.2158605),
        (188, 0.5028865),
    ],
)
def test_srgb_to_linear_known_values(level: int, linear: float) -> None:
    assert hdr.srgb_to_linear(np.array([level], np.uint8))[0] == pytest.approx(linear, abs=5e-8)


def test_srgb_round_trip_is_exact_in_float() -> None:
    levels = np.arange(256) / 255.0
    assert np.allclose(hdr.linear_to_srgb(hdr.srgb_to_linear(levels)), levels, atol=1e-12)


def test_exr_is_exactly_srgb_to_linear_and_round_trips(tmp_path) -> None:
    image = ramp_image()
    path = tmp_path / "pano.exr"
    assert export_image(Image.fromarray(image), None, path, ExportOptions(format="exr")) == [path]
    values = read_exr(path)
    assert values.shape == image.shape
    assert np.array_equal(values, hdr.srgb_to_linear(image).astype(np.float32).astype(np.float16))
    back = np.rint(hdr.linear_to_srgb(values) * 255)
    assert np.abs(back - image).max() <= 1


def test_hdr_read_by_opencv(tmp_path) -> None:
    image = ramp_image()
    path = tmp_path / "pano.hdr"
    export_image(Image.fromarray(image), None, path, ExportOptions(format="hdr"))
    assert path.read_bytes().startswith(b"#?RADIANCE\n")
    values = read_hdr(path)
    expected = hdr.srgb_to_linear(image)
    assert values.shape == image.shape
    # RGBE keeps 8 mantissa bits of the largest channel: each channel is within 1/128 of it.
    assert np.all(np.abs(values - expected) <= expected.max(axis=-1, keepdims=True) / 128 + 1e-9)
    # A channel as bright as the pixel's brightest keeps full precision: greys round trip within a level.
    grey = np.repeat(np.resize(np.arange(256, dtype=np.uint8), (64, 128))[..., None], 3, axis=-1)
    export_image(Image.fromarray(grey), None, path, ExportOptions(format="hdr"))
    back = np.rint(hdr.linear_to_srgb(read_hdr(path)) * 255)
    assert np.abs(back - grey).max() <= 1


def test_rgbe_encoding_known_pixels() -> None:
    pixels = np.array([[[1.0, 0.5, 0.25], [0.0, 0.0, 0.0], [3.0, 0.0, 0.0]]])
    # 1.0 = 0.5·2^1: exponent byte 129, mantissas 128, 64, 32; 3.0 = 0.75·2^2: 192 with exponent 130.
    assert hdr.encode_rgbe(pixels).tolist() == [[[128, 64, 32, 129], [0, 0, 0, 0], [192, 0, 0, 130]]]


def test_highlight_expansion_curve() -> None:
    linear = np.array([[0.2, 0.2, 0.2], [0.6, 0.6, 0.6], [0.8, 0.8, 0.8], [1.0, 1.0, 1.0], [1.0, 0.5, 0.2]])
    assert np.array_equal(hdr.expand_highlights(linear, 0.0), linear)
    out = hdr.expand_highlights(linear, 4.0)
    assert np.array_equal(out[:2], linear[:2])  # at and below the knee: unchanged
    assert out[2, 0] == pytest.approx(0.8 * 2 ** (4 * 0.25))  # w = 0.5
    assert out[3, 0] == pytest.approx(16.0)  # clipped white: 2^4
    assert out[4] / out[4, 0] == pytest.approx(linear[4] / linear[4, 0])  # hue kept
    grey = np.linspace(0, 1, 1001)[:, None].repeat(3, 1)
    luminance = hdr.expand_highlights(grey, 6.0)[:, 0]
    assert np.all(np.diff(luminance) > 0)  # brightness order kept
    with pytest.raises(ValueError):
        hdr.expand_highlights(linear, -1)


def test_highlights_in_the_export(tmp_path) -> None:
    image = np.full((32, 64, 3), 60, np.uint8)
    image[10:14, 20:24] = 255  # a "sun"
    path = tmp_path / "sun.exr"
    export_image(Image.fromarray(image), None, path, ExportOptions(format="exr", highlight_stops=5))
    values = read_exr(path)
    assert values[12, 22, 0] == pytest.approx(32.0)
    assert values[0, 0, 0] == pytest.approx(hdr.srgb_to_linear(np.uint8(60)), rel=1e-3)
    with pytest.raises(RequestError, match="highlight_stops"):
        ExportOptions(format="exr", highlight_stops=9).validate()


def test_cube_faces_as_exr_match_the_png_faces(tmp_path) -> None:
    image = analytic()
    export_image(
        Image.fromarray(image), None, tmp_path / "png", ExportOptions(format="cubemap", face_size=32)
    )
    written = export_image(
        Image.fromarray(image),
        None,
        tmp_path / "exr",
        ExportOptions(format="cubemap", face_size=32, face_format="exr"),
    )
    assert [p.name for p in written] == [f"{name}.exr" for name in projection.FACE_NAMES]
    for name in projection.FACE_NAMES:
        png = np.asarray(Image.open(tmp_path / "png" / f"{name}.png"))
        exr = np.rint(hdr.linear_to_srgb(read_exr(tmp_path / "exr" / f"{name}.exr")) * 255)
        # The same orientation; EXR faces filter in linear light, so a smooth image differs by a level or so.
        assert np.abs(exr - png).max() <= 2, name


def test_cube_orientation_against_the_convention(tmp_path) -> None:
    image = analytic()
    export_image(
        Image.fromarray(image),
        None,
        tmp_path / "exr",
        ExportOptions(format="cubemap", face_size=33, face_format="exr"),
    )
    for name in projection.FACE_NAMES:
        face = hdr.linear_to_srgb(read_exr(tmp_path / "exr" / f"{name}.exr"))
        directions = projection.cube_face_directions(name, 33)
        directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
        expected = directions * 0.5 + 0.5
        # Centre, right-edge middle and bottom-edge middle each show the colour of their direction.
        for row, col in ((16, 16), (16, 32), (32, 16)):
            assert np.abs(face[row, col] - expected[row, col]).max() < 0.02, (name, row, col)


def test_cross_as_exr(tmp_path) -> None:
    image = analytic()
    path = tmp_path / "cross.exr"
    options = ExportOptions(format="cubemap-cross", face_size=16, face_format="exr")
    export_image(Image.fromarray(image), None, path, options)
    cross = read_exr(path)
    assert cross.shape == (48, 64, 3)
    assert np.all(cross[:16, :16] == 0)  # empty cell
    row, col = projection.CROSS_LAYOUT["pz"]
    centre = hdr.linear_to_srgb(cross[row * 16 + 8, col * 16 + 8])
    assert np.abs(centre - np.array([0.5, 0.5, 1.0])).max() < 0.05  # +Z: the panorama's centre


def test_default_names() -> None:
    from pathlib import Path
    from types import SimpleNamespace

    entry = SimpleNamespace(path=Path("/lib/2026/pano-1.png"))
    assert default_file_name(entry, ExportOptions(format="exr")) == "pano-1.exr"
    assert default_file_name(entry, ExportOptions(format="hdr")) == "pano-1.hdr"
    assert (
        default_file_name(entry, ExportOptions(format="cubemap-cross", face_format="exr"))
        == "pano-1-cross.exr"
    )


def test_missing_openexr_is_a_clear_error(tmp_path, monkeypatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_openexr(name, *args, **kwargs):
        if name == "OpenEXR":
            raise ImportError("No module named 'OpenEXR'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openexr)
    with pytest.raises(hdr.ExrUnavailableError, match="pip install openexr"):
        hdr.save_exr(np.zeros((4, 8, 3)), tmp_path / "x.exr")
    assert not (tmp_path / "x.exr").exists()
