"""Our JPEGs' EXIF UserComment has the standard's type and charset prefix, checked by independent readers."""

from __future__ import annotations

import shutil
import struct
import subprocess

import numpy as np
import piexif
import piexif.helper
import pytest
from PIL import Image

from dit360_desktop.panorama.exif import ASCII_CODE, UNICODE_CODE, jpeg_exif, user_comment_value
from dit360_desktop.panorama.imageio import read_metadata, save_jpeg

UNDEFINED = 7


def _picture() -> Image.Image:
    return Image.fromarray(np.full((32, 64, 3), 120, np.uint8))


@pytest.mark.parametrize(
    ("prompt", "code"), [("a castle at dusk", ASCII_CODE), ("un château, 夕暮れの城", UNICODE_CODE)]
)
def test_user_comment_is_undefined_with_a_charset_prefix(tmp_path, prompt, code):
    path = save_jpeg(
        _picture(), tmp_path / "pano.jpg", {"request": {"prompt": prompt, "steps": 28}, "seed": 7}
    )
    exif = piexif.load(str(path))
    value = exif["Exif"][piexif.ExifIFD.UserComment]
    # piexif hands back what the tag's type says: bytes for UNDEFINED, a tuple of ints for BYTE.
    assert isinstance(value, bytes)
    assert value[:8] == code
    text = piexif.helper.UserComment.load(value)
    assert text.startswith(prompt + "\n") and "Seed: 7" in text and "Steps: 28" in text
    assert exif["Exif"][piexif.ExifIFD.ExifVersion] == b"0232"
    assert exif["Exif"][piexif.ExifIFD.PixelXDimension] == 64
    # Our own reader and the A1111 text agree.
    assert read_metadata(path).parameters == text


def test_the_tag_type_in_the_file_is_undefined():
    block = jpeg_exif(64, 32, "a lake")
    assert block.startswith(b"Exif\x00\x00MM\x00\x2a")
    tiff = block[6:]
    (exif_offset,) = [
        struct.unpack(">I", tiff[10 + 12 * i + 8 : 10 + 12 * i + 12])[0]
        for i in range(struct.unpack(">H", tiff[8:10])[0])
        if struct.unpack(">H", tiff[10 + 12 * i : 12 + 12 * i])[0] == 0x8769
    ]
    count = struct.unpack(">H", tiff[exif_offset : exif_offset + 2])[0]
    entries = [tiff[exif_offset + 2 + 12 * i : exif_offset + 14 + 12 * i] for i in range(count)]
    _tag, kind, length, offset = next(struct.unpack(">HHII", e) for e in entries if e[:2] == b"\x92\x86")
    assert kind == UNDEFINED and length == 8 + len("a lake")
    assert tiff[offset : offset + length] == b"ASCII\x00\x00\x00a lake"
    assert user_comment_value("é") == UNICODE_CODE + "é".encode("utf-16-be")


def test_exiftool_validates_the_file(tmp_path):
    exiftool = shutil.which("exiftool")
    if exiftool is None:
        pytest.skip("exiftool is not installed (apt-get install libimage-exiftool-perl)")
    path = save_jpeg(_picture(), tmp_path / "pano.jpg", {"request": {"prompt": "a castle, été"}, "seed": 3})
    result = subprocess.run(
        [exiftool, "-validate", "-warning", "-a", "-UserComment", "-s", str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines())
    lines = {key.strip(): value.strip() for key, value in lines.items()}
    assert lines["Validate"] == "OK", result.stdout
    assert lines["UserComment"].startswith("a castle, été")


def test_webp_views_carry_the_same_exif(tmp_path):
    from dit360_desktop.history.export import ExportOptions, export_image

    path = tmp_path / "view.webp"
    options = ExportOptions(format="perspective", quality=90, size=(96, 64), fov=80.0)
    (written,) = export_image(_picture(), {"request": {"prompt": "a quiet bay"}, "seed": 5}, path, options)
    with Image.open(written) as image:
        assert image.format == "WEBP" and image.size == (96, 64)
        assert b"a quiet bay" in image.info["xmp"]
    value = piexif.load(str(written))["Exif"][piexif.ExifIFD.UserComment]
    assert isinstance(value, bytes) and piexif.helper.UserComment.load(value).startswith("a quiet bay\n")
