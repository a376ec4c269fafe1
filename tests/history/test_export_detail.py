"""Every export kind at its defaults on high-detail panoramas (noise: the hardest case for a compressor),
through the CLI as a user runs it, into a folder that does not exist yet, read back by independent readers
(OpenCV, exiftool, the OpenEXR library). Issue 21 items 2 and 3: the default 360° JPEG failed with "broken
data stream" on detailed pictures, and only some kinds created a missing folder."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from history_factory import make_result
from PIL import Image

from dit360_desktop.cli import main
from dit360_desktop.history.export import EXPORT_FORMATS, ExportOptions, export_image
from dit360_desktop.history.library import Library
from dit360_desktop.panorama import hdr
from dit360_desktop.panorama.projection import FACE_NAMES

OUT_NAMES = {
    "jpeg-gpano": "pano-360.jpg",
    "png": "pano.png",
    "cubemap": "pano-cubemap",
    "cubemap-cross": "pano-cross.png",
    "perspective": "view.jpg",
    "exr": "pano.exr",
    "hdr": "pano.hdr",
}


def noise(width: int, height: int, seed: int = 21) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def read_exr(path: Path) -> np.ndarray:
    import OpenEXR

    with OpenEXR.File(str(path)) as exr:
        channels = exr.channels()
        if "RGB" in channels:
            return np.asarray(channels["RGB"].pixels, dtype=np.float32)
        return np.stack([np.asarray(channels[c].pixels, dtype=np.float32) for c in "RGB"], axis=-1)


def exiftool_gpano(path: Path) -> dict:
    if shutil.which("exiftool") is None:
        pytest.skip("exiftool is not installed")
    out = subprocess.run(
        ["exiftool", "-json", "-XMP-GPano:all", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)[0]


def check_read_back(fmt: str, path: Path, pixels: np.ndarray) -> None:
    """Open what the export wrote with a reader that is not ours and compare it with the source."""
    height, width = pixels.shape[:2]
    face = max(16, width // 4)
    if fmt in ("jpeg-gpano", "png"):
        decoded = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert decoded.shape == pixels.shape
        rows = slice(None, None, max(1, height // 256))  # every row costs seconds at 8K
        error = np.abs(decoded[rows].astype(np.int16) - pixels[rows]).mean()
        # q92 at full chroma on noise: a few levels on average; PNG is exact.
        assert error < (12 if fmt == "jpeg-gpano" else 1e-9), error
        gpano = exiftool_gpano(path)
        assert gpano["ProjectionType"] == "equirectangular"
        assert int(gpano["FullPanoWidthPixels"]) == width
    elif fmt == "cubemap":
        for name in FACE_NAMES:
            decoded = cv2.imread(str(path / f"{name}.png"), cv2.IMREAD_COLOR)
            assert decoded is not None and decoded.shape == (face, face, 3), name
    elif fmt == "cubemap-cross":
        decoded = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert decoded.shape == (3 * face, 4 * face, 3)
    elif fmt == "perspective":
        decoded = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert decoded.shape == (1080, 1920, 3)
    elif fmt == "exr":
        linear = read_exr(path)
        assert linear.shape == pixels.shape
        # Half floats: three significant decimal digits.
        assert np.allclose(linear, hdr.srgb_to_linear(pixels), rtol=2e-3, atol=1e-4)
    elif fmt == "hdr":
        decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert decoded.shape == pixels.shape and decoded.dtype == np.float32
        rgb = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
        reference = hdr.srgb_to_linear(pixels)
        # RGBE shares one exponent: each channel is quantised in steps of the brightest one's 1/128.
        step = reference.max(axis=-1, keepdims=True) / 128
        assert np.all(np.abs(rgb - reference) <= step + 1e-6)
    else:  # pragma: no cover - a new kind must be added here
        raise AssertionError(f"no reader for {fmt}")


@pytest.fixture(scope="module")
def noisy_library(tmp_path_factory) -> tuple[Path, int, np.ndarray]:
    folder = tmp_path_factory.mktemp("detail") / "library"
    pixels = noise(2048, 1024)
    result = make_result("This is a panorama image. Gravel at noon", seed=5, width=2048, height=1024)
    result = type(result)(
        image=Image.fromarray(pixels), request=result.request, metadata=result.metadata, latent=None
    )
    with Library.open(folder) as library:
        entry = library.save(result)
    return folder, entry.id, pixels


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_every_kind_at_its_defaults_on_a_detailed_panorama(noisy_library, tmp_path: Path, fmt: str) -> None:
    folder, entry_id, pixels = noisy_library
    # A folder that does not exist yet, two levels deep (a fresh account's ~/Pictures/DiT360).
    out = tmp_path / "Pictures" / "DiT360" / OUT_NAMES[fmt]
    argv = ["history", "export", str(entry_id), "--library", str(folder), "--format", fmt, "--out", str(out)]
    assert main(argv) == 0
    assert out.exists()
    check_read_back(fmt, out, pixels)
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".partial-")]


def test_8k_noise_jpeg_at_the_default_quality(tmp_path: Path) -> None:
    """The case that failed: 8192×4096 of noise, quality 92, full chroma, optimised tables, metadata."""
    pixels = noise(8192, 4096, seed=8)
    out = tmp_path / "new folder" / "big-360.jpg"
    metadata = make_result(width=8192, height=4096).metadata
    assert export_image(Image.fromarray(pixels), metadata, out, ExportOptions("jpeg-gpano")) == [out]
    check_read_back("jpeg-gpano", out, pixels)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_every_kind_at_8k(tmp_path: Path, fmt: str) -> None:
    pixels = noise(8192, 4096, seed=9)
    out = tmp_path / "missing" / OUT_NAMES[fmt]
    export_image(Image.fromarray(pixels), make_result().metadata, out, ExportOptions(fmt))
    check_read_back(fmt, out, pixels)
