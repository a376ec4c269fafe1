"""Image files: metadata written and read back (also by an independent XMP parser), atomic saves, and every
kind of bad or unusual user image."""

from __future__ import annotations

import errno
import io
import os
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from dit360_desktop.panorama import imageio
from dit360_desktop.panorama.errors import ImageLoadError, RequestError
from dit360_desktop.panorama.request import GenerationRequest

GPANO = "http://ns.google.com/photos/1.0/panorama/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def sample_metadata(
    prompt: str = 'This is a panorama image. A misty fjord, at dawn: "calm"',
) -> dict[str, Any]:
    request = GenerationRequest(
        prompt=prompt, negative_prompt="blurry, low quality", seed=1234, width=256, height=128
    )
    return {
        "request": request.to_dict(),
        "seed": 1234,
        "models": {
            "base": {
                "name": "black-forest-labs/FLUX.1-dev",
                "path": "/models/flux",
                "sha256": "0123456789abcdef" * 4,
            },
            "lora": {
                "name": "DiT360",
                "path": "/models/dit360",
                "sha256": "fedcba9876543210" * 4,
                "scale": 1.0,
            },
        },
        "timings": {"denoising": 12.5, "decoding": 1.25},
        "versions": {"app": "0.1.0", "torch": "2.13.0"},
        "warnings": ["256×128 is small"],
    }


def panorama(width: int = 256, height: int = 128) -> Image.Image:
    x = np.linspace(0, 255, width)[None, :]
    y = np.linspace(0, 255, height)[:, None]
    rgb = np.stack(np.broadcast_arrays(x, y, 255 - x), axis=-1)
    return Image.fromarray(rgb.astype(np.uint8))


# ---------------------------------------------------------------- independent XMP reading


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    return chunks


def xmp_from_png_bytes(data: bytes) -> bytes:
    for kind, body in png_chunks(data):
        prefix = b"XML:com.adobe.xmp\x00"
        if kind == b"iTXt" and body.startswith(prefix):
            rest = body[len(prefix) :]
            assert rest[:2] == b"\x00\x00", "XMP must be stored uncompressed for scanners to find it"
            _lang, _, rest = rest[2:].partition(b"\x00")
            _tkey, _, xml = rest.partition(b"\x00")
            return xml
    raise AssertionError("no XMP iTXt chunk")


def xmp_from_jpeg_bytes(data: bytes) -> bytes:
    header = b"http://ns.adobe.com/xap/1.0/\x00"
    pos = 2
    assert data[:2] == b"\xff\xd8"
    while pos < len(data) and data[pos] == 0xFF and data[pos + 1] not in (0xDA, 0xD9):
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        payload = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and payload.startswith(header):
            return payload[len(header) :]
        pos += 2 + length
    raise AssertionError("no XMP APP1 segment before the image data")


def gpano_by_etree(xml: bytes) -> dict[str, str]:
    root = ET.fromstring(xml[xml.index(b"<x:xmpmeta") : xml.index(b"</x:xmpmeta>") + len(b"</x:xmpmeta>")])
    fields = {}
    for desc in root.iter(f"{{{RDF}}}Description"):
        for key, value in desc.attrib.items():
            if key.startswith(f"{{{GPANO}}}"):
                fields[key.split("}")[1]] = value
    return fields


EXPECTED_GPANO = {
    "ProjectionType": "equirectangular",
    "UsePanoramaViewer": "True",
    "FullPanoWidthPixels": "256",
    "FullPanoHeightPixels": "128",
    "CroppedAreaImageWidthPixels": "256",
    "CroppedAreaImageHeightPixels": "128",
    "CroppedAreaLeftPixels": "0",
    "CroppedAreaTopPixels": "0",
}


def test_png_gpano_read_by_independent_parser(tmp_path: Path) -> None:
    path = imageio.save_png(panorama(), tmp_path / "pano.png", sample_metadata())
    assert gpano_by_etree(xmp_from_png_bytes(path.read_bytes())) == EXPECTED_GPANO
    # Pillow finds it too, which is what most other readers rely on.
    with Image.open(path) as image:
        assert 'GPano:ProjectionType="equirectangular"' in str(image.info["xmp"])


def test_jpeg_gpano_read_by_independent_parser(tmp_path: Path) -> None:
    path = imageio.save_jpeg(panorama(), tmp_path / "pano.jpg", sample_metadata(), quality=90)
    assert gpano_by_etree(xmp_from_jpeg_bytes(path.read_bytes())) == EXPECTED_GPANO


def test_gpano_initial_view_fields() -> None:
    xmp = imageio.gpano_xmp(
        2048,
        1024,
        pose_heading_degrees=-30.0,
        initial_view_heading_degrees=90.4,
        initial_view_pitch_degrees=-12.6,
        initial_horizontal_fov_degrees=75.5,
    )
    fields = gpano_by_etree(xmp.encode())
    assert fields["PoseHeadingDegrees"] == "330"
    assert fields["InitialViewHeadingDegrees"] == "90"
    assert fields["InitialViewPitchDegrees"] == "-13"
    assert fields["InitialHorizontalFOVDegrees"] == "75.5"
    assert fields["FullPanoWidthPixels"] == "2048"


def test_gpano_in_element_form_from_other_tools(tmp_path: Path) -> None:
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:GPano="http://ns.google.com/photos/1.0/panorama/">'
        "<GPano:ProjectionType>equirectangular</GPano:ProjectionType>"
        "<GPano:FullPanoWidthPixels>5376</GPano:FullPanoWidthPixels>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    path = tmp_path / "camera.jpg"
    panorama().save(path, format="JPEG", xmp=xmp.encode() + b"\x00\x00")
    read = imageio.read_metadata(path)
    assert read.gpano == {"ProjectionType": "equirectangular", "FullPanoWidthPixels": "5376"}
    assert read.dit360 is None and read.parameters is None


# ---------------------------------------------------------------- metadata round trips


def test_png_metadata_round_trip(tmp_path: Path) -> None:
    metadata = sample_metadata("This is a panorama image. 富士山の朝焼け, snow")
    path = imageio.save_png(panorama(), tmp_path / "pano.png", metadata)
    read = imageio.read_metadata(path)
    assert read.format == "PNG"
    assert read.dit360 == metadata
    assert read.parameters == imageio.format_a1111_parameters(metadata)
    assert read.gpano == EXPECTED_GPANO
    # A1111 readers use Pillow's text dict; the pixels are untouched.
    with Image.open(path) as image:
        assert image.text["parameters"] == read.parameters
        assert np.array_equal(np.asarray(image.convert("RGB")), np.asarray(panorama()))


def test_jpeg_metadata_round_trip(tmp_path: Path) -> None:
    metadata = sample_metadata("This is a panorama image. 富士山の朝焼け <b>&amp;</b>")
    path = imageio.save_jpeg(panorama(), tmp_path / "pano.jpg", metadata, quality=95)
    read = imageio.read_metadata(path)
    assert read.format == "JPEG"
    assert read.dit360 == metadata
    assert read.parameters == imageio.format_a1111_parameters(metadata)
    assert read.gpano == EXPECTED_GPANO
    with Image.open(path) as image:
        assert image.format == "JPEG" and image.size == (256, 128)
        # A1111's layout: EXIF UserComment with the UNICODE character code, UTF-16 big-endian.
        comment = image.getexif().get_ifd(0x8769)[0x9286]
        assert comment[:8] == b"UNICODE\x00"
        assert comment[8:].decode("utf-16-be") == read.parameters
        assert np.abs(np.asarray(image, dtype=int) - np.asarray(panorama(), dtype=int)).mean() < 3


def test_metadata_and_gpano_are_independent(tmp_path: Path) -> None:
    stripped = imageio.read_metadata(imageio.save_jpeg(panorama(), tmp_path / "a.jpg", None, gpano=True))
    assert (stripped.dit360, stripped.parameters, stripped.gpano) == (None, None, EXPECTED_GPANO)
    raw = (tmp_path / "a.jpg").read_bytes()
    assert b"panorama image" not in raw and b"dit360" not in raw

    no_gpano = imageio.read_metadata(
        imageio.save_jpeg(panorama(), tmp_path / "b.jpg", sample_metadata(), gpano=False)
    )
    assert no_gpano.dit360 == sample_metadata() and no_gpano.gpano == {}
    assert b"GPano" not in (tmp_path / "b.jpg").read_bytes()

    bare = imageio.read_metadata(imageio.save_jpeg(panorama(), tmp_path / "c.jpg", None, gpano=False))
    assert (bare.dit360, bare.parameters, bare.gpano) == (None, None, {})

    png = imageio.read_metadata(imageio.save_png(panorama(), tmp_path / "d.png", None, gpano=True))
    assert (png.dit360, png.parameters, png.gpano) == (None, None, EXPECTED_GPANO)
    png = imageio.read_metadata(
        imageio.save_png(panorama(), tmp_path / "e.png", sample_metadata(), gpano=False)
    )
    assert png.dit360 == sample_metadata() and png.gpano == {}


def test_encode_png_matches_saved_file(tmp_path: Path) -> None:
    data = imageio.encode_png(panorama(), sample_metadata())
    path = imageio.save_png(panorama(), tmp_path / "x.png", sample_metadata())
    assert path.read_bytes() == data


def test_read_metadata_from_another_tools_png(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text(
        "parameters", "a cat\nNegative prompt: dog\nSteps: 20, Sampler: DPM++ 2M, CFG scale: 7, Seed: 5"
    )
    path = tmp_path / "a1111.png"
    panorama().save(path, pnginfo=info)
    read = imageio.read_metadata(path)
    assert read.dit360 is None and read.gpano == {}
    assert imageio.parse_a1111_parameters(read.parameters)["seed"] == 5


def test_read_metadata_finds_text_after_the_image_data(tmp_path: Path) -> None:
    data = imageio.encode_png(panorama(), None, gpano=False)
    text = b"parameters\x00late prompt\nSteps: 3, Sampler: Euler, Seed: 9"
    chunk = struct.pack(">I", len(text)) + b"tEXt" + text + struct.pack(">I", zlib.crc32(b"tEXt" + text))
    path = tmp_path / "late.png"
    path.write_bytes(data[:-12] + chunk + data[-12:])  # just before IEND
    assert imageio.read_metadata(path).parameters.startswith("late prompt")


@pytest.mark.parametrize("content", [b"hello, not an image", b"", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_read_metadata_bad_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageLoadError, match=r"bad\.png"):
        imageio.read_metadata(path)


def test_read_metadata_refuses_text_bombs(tmp_path: Path) -> None:
    data = imageio.encode_png(panorama(), None, gpano=False)
    body = b"dit360\x00\x00" + zlib.compress(b"{" + b" " * (16 * 1024 * 1024) + b"}", 6)
    chunk = struct.pack(">I", len(body)) + b"zTXt" + body + struct.pack(">I", zlib.crc32(b"zTXt" + body))
    path = tmp_path / "bomb.png"
    path.write_bytes(data[:33] + chunk + data[33:])  # after IHDR
    with pytest.raises(ImageLoadError, match="8 MB"):
        imageio.read_metadata(path)


# ---------------------------------------------------------------- A1111 text


def test_a1111_round_trip_of_our_text() -> None:
    metadata = sample_metadata()
    metadata["request"]["init_image"] = "/tmp/in.png"
    text = imageio.format_a1111_parameters(metadata)
    lines = text.split("\n")
    assert lines[0] == metadata["request"]["prompt"]
    assert lines[1] == "Negative prompt: blurry, low quality"
    assert lines[2].startswith(
        "Steps: 28, Sampler: Euler, CFG scale: 1.0, Distilled CFG Scale: 2.8, Seed: 1234, "
    )
    parsed = imageio.parse_a1111_parameters(text)
    assert parsed["prompt"] == metadata["request"]["prompt"]
    assert parsed["negative_prompt"] == "blurry, low quality"
    assert (parsed["steps"], parsed["seed"], parsed["width"], parsed["height"]) == (28, 1234, 256, 128)
    assert (parsed["cfg_scale"], parsed["guidance"]) == (1.0, 2.8)
    assert parsed["model"] == "black-forest-labs/FLUX.1-dev"
    assert parsed["model_hash"] == "0123456789"
    assert parsed["denoising_strength"] == 0.8
    assert parsed["lora_scale"] == 1.0
    assert parsed["extra"]["Seamless decode"] == "on"


def test_a1111_parse_text_from_other_tools() -> None:
    text = (
        "masterpiece, a castle\non a hill, <lora:add_detail:0.5>\n"
        "Negative prompt: lowres,\nbad hands\n"
        "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 3141592653, Size: 768x512, "
        'Model hash: abcdef1234, Model: sd_xl_base, Lora hashes: "add_detail: 7c6bad76eb54", '
        'Hires upscaler: "4x-UltraSharp", Version: v1.9.4'
    )
    parsed = imageio.parse_a1111_parameters(text)
    assert parsed["prompt"] == "masterpiece, a castle\non a hill, <lora:add_detail:0.5>"
    assert parsed["negative_prompt"] == "lowres,\nbad hands"
    assert parsed["steps"] == 30 and parsed["sampler"] == "DPM++ 2M Karras"
    assert parsed["cfg_scale"] == 6.5 and "guidance" not in parsed
    assert parsed["seed"] == 3141592653 and (parsed["width"], parsed["height"]) == (768, 512)
    assert parsed["lora_hashes"] == "add_detail: 7c6bad76eb54"
    assert parsed["extra"] == {"Hires upscaler": "4x-UltraSharp"}
    forge = "a fox\nSteps: 20, Sampler: Euler, Schedule type: Simple, CFG scale: 1, "
    forge += "Distilled CFG Scale: 3.5, Seed: 7"
    parsed = imageio.parse_a1111_parameters(forge)
    assert (parsed["guidance"], parsed["cfg_scale"], parsed["schedule"]) == (3.5, 1.0, "Simple")
    assert parsed["negative_prompt"] == ""


def test_a1111_parse_edge_cases() -> None:
    # No parameter line: everything is the prompt, even with a colon in it.
    assert imageio.parse_a1111_parameters("a sign that says: hello") == {
        "prompt": "a sign that says: hello",
        "negative_prompt": "",
    }
    parsed = imageio.parse_a1111_parameters("x\nSteps: many, Seed: abc, Size: big, Sampler: Euler")
    assert "steps" not in parsed and "seed" not in parsed and "width" not in parsed
    assert parsed["extra"] == {"Steps": "many", "Seed": "abc", "Size": "big"}


# ---------------------------------------------------------------- atomic saves


def test_save_is_atomic_under_disk_full_during_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "pano.png"
    target.write_bytes(b"previous version")
    real_write = os.write
    calls = []

    def write_then_fill_disk(fd: int, data: Any) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[:100]))  # a partial write, as a nearly full disk gives
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", write_then_fill_disk)
    with pytest.raises(OSError) as caught:
        imageio.save_png(panorama(), target, sample_metadata())
    monkeypatch.undo()
    assert caught.value.errno == errno.ENOSPC
    assert len(calls) == 2
    assert target.read_bytes() == b"previous version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pano.png"]


@pytest.mark.parametrize("saver", ["png", "jpeg"])
def test_save_is_atomic_when_fsync_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, saver: str) -> None:
    def fsync_fails(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync_fails)
    target = tmp_path / f"pano.{saver}"
    save = imageio.save_png if saver == "png" else imageio.save_jpeg
    with pytest.raises(OSError, match="No space"):
        save(panorama(), target, sample_metadata())
    assert list(tmp_path.iterdir()) == []


def test_save_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "pano.png"
    target.write_bytes(b"old")
    imageio.save_png(panorama(), target, None)
    with Image.open(target) as image:
        assert image.size == (256, 128)
    assert [p.name for p in tmp_path.iterdir()] == ["pano.png"]
    # A target that cannot be replaced (a folder) fails cleanly too.
    folder = tmp_path / "folder.png"
    folder.mkdir()
    with pytest.raises(OSError):
        imageio.save_png(panorama(), folder, None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.png", "pano.png"]
    assert list(folder.iterdir()) == []


def test_save_tolerates_a_folder_that_cannot_be_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync
    calls = []

    def fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:  # the first fsync is the file's, the second the folder's
            raise OSError(errno.EINVAL, "Invalid argument")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    path = imageio.save_png(panorama(), tmp_path / "pano.png", None)
    assert len(calls) == 2 and path.is_file()


def test_interrupted_save_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        imageio.save_jpeg(panorama(), tmp_path / "pano.jpg", sample_metadata())
    assert list(tmp_path.iterdir()) == []


def test_save_respects_umask(tmp_path: Path) -> None:
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    old = os.umask(0o022)
    try:
        path = imageio.save_png(panorama(), tmp_path / "pano.png", None)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_jpeg_quality_is_validated(tmp_path: Path) -> None:
    with pytest.raises(RequestError, match="quality"):
        imageio.save_jpeg(panorama(), tmp_path / "a.jpg", None, quality=0)
    small = imageio.encode_jpeg(panorama(), None, quality=20)
    large = imageio.encode_jpeg(panorama(), None, quality=95)
    assert len(small) < len(large)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- loading user images


def _save(image: Image.Image, path: Path, **kwargs: Any) -> Path:
    image.save(path, **kwargs)
    return path


def test_load_plain_formats(tmp_path: Path) -> None:
    source = panorama(64, 32)
    for fmt, ext in (("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp"), ("TIFF", "tif")):
        path = _save(source, tmp_path / f"in.{ext}", format=fmt, **({"quality": 95} if fmt != "PNG" else {}))
        loaded = imageio.load_user_image(path)
        assert loaded.mode == "RGB" and loaded.size == (64, 32)
        assert np.abs(np.asarray(loaded, int) - np.asarray(source, int)).mean() < 4, fmt


def test_format_is_sniffed_not_taken_from_the_extension(tmp_path: Path) -> None:
    path = _save(panorama(64, 32), tmp_path / "really-a-png.jpg", format="PNG")
    assert imageio.load_user_image(path).size == (64, 32)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.png", b"these are my notes, not a picture\n" * 10, "not a recognisable image"),
        ("empty.png", b"", "not a recognisable image"),
        ("garbage.jpg", bytes(range(256)) * 8, "not a recognisable image"),
    ],
)
def test_non_images_are_refused(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageLoadError, match=message) as caught:
        imageio.load_user_image(path)
    assert name in str(caught.value)
    assert caught.value.__cause__ is not None


@pytest.mark.parametrize(("fmt", "kind"), [("BMP", "BMP"), ("GIF", "GIF")])
def test_unsupported_formats_are_named(tmp_path: Path, fmt: str, kind: str) -> None:
    path = _save(panorama(32, 16), tmp_path / "picture.png", format=fmt)
    with pytest.raises(ImageLoadError, match=f"a {kind} file. Only PNG, JPEG, WebP and TIFF"):
        imageio.load_user_image(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="does not exist"):
        imageio.load_user_image(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="not a file"):
        imageio.load_user_image(tmp_path)


@pytest.mark.parametrize(("fmt", "ext"), [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp")])
def test_truncated_images_are_refused(tmp_path: Path, fmt: str, ext: str) -> None:
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 256, (128, 256, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    noisy.save(buffer, format=fmt)
    data = buffer.getvalue()
    path = tmp_path / f"cut.{ext}"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ImageLoadError, match=r"cut\.\w+ could not be read: it is truncated or damaged"):
        imageio.load_user_image(path)


def _png_with_size(width: int, height: int) -> bytes:
    """A PNG header declaring a huge size, with almost no data: what a decompression bomb looks like."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(("width", "height"), [(16384, 8193), (40000, 20000), (100000, 100000)])
def test_decompression_bombs_are_refused(tmp_path: Path, width: int, height: int) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_with_size(width, height))
    with pytest.raises(ImageLoadError, match=r"bomb|more than the limit"):
        imageio.load_user_image(path)


def test_the_largest_allowed_size_passes_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Exactly at the limit the size check passes and decoding starts (and then finds the data missing).
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    path = tmp_path / "edge.png"
    path.write_bytes(_png_with_size(16384, 8192))
    with pytest.raises(ImageLoadError, match="truncated or damaged"):
        imageio.load_user_image(path)


def test_cmyk_jpeg_is_converted(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (64, 32), (255, 0, 0, 0))  # pure cyan
    cmyk.paste((0, 0, 0, 255), (32, 0, 64, 32))  # pure black on the right
    path = _save(cmyk, tmp_path / "cmyk.jpg", format="JPEG", quality=95)
    with Image.open(path) as raw:
        assert raw.mode == "CMYK"
    loaded = np.asarray(imageio.load_user_image(path), dtype=int)
    assert np.abs(loaded[:, :28] - [0, 255, 255]).max() <= 6
    assert np.abs(loaded[:, 36:]).max() <= 6


def test_16bit_grey_png_uses_the_full_range(tmp_path: Path) -> None:
    gradient = np.linspace(0, 65535, 512).round().astype(np.uint16)[None, :].repeat(8, 0)
    path = tmp_path / "deep.png"
    Image.fromarray(gradient).save(path)
    with Image.open(path) as raw:
        assert raw.mode in ("I;16", "I")
    loaded = np.asarray(imageio.load_user_image(path))
    row = loaded[0, :, 0]
    assert row.min() == 0 and row.max() == 255
    assert np.all(np.diff(row.astype(int)) >= 0)
    assert len(np.unique(row)) == 256  # no clipping: every level is used, none saturates early
    assert np.array_equal(loaded[..., 0], loaded[..., 2])
    mid = np.abs(row.astype(float) - np.linspace(0, 255, 512)).max()
    assert mid <= 1.0


def test_16bit_grey_tiff(tmp_path: Path) -> None:
    gradient = np.linspace(0, 65535, 256).round().astype(np.uint16)[None, :].repeat(4, 0)
    path = tmp_path / "deep.tif"
    Image.fromarray(gradient).save(path, format="TIFF")
    row = np.asarray(imageio.load_user_image(path))[0, :, 1]
    assert row.min() == 0 and row.max() == 255 and len(np.unique(row)) == 256


def _png_rgb16(values: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG written by hand (Pillow cannot write one)."""
    height, width, _ = values.shape

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = b"".join(b"\x00" + values[y].astype(">u2").tobytes() for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def test_16bit_rgb_png_uses_the_full_range(tmp_path: Path) -> None:
    ramp = np.linspace(0, 65535, 300).round()
    values = np.stack([ramp, 65535 - ramp, np.full_like(ramp, 32768)], axis=-1)[None].repeat(3, 0)
    path = tmp_path / "rgb16.png"
    path.write_bytes(_png_rgb16(values))
    loaded = np.asarray(imageio.load_user_image(path), dtype=int)
    assert loaded[0, 0].tolist() == [0, 255, 128]
    assert loaded[0, -1].tolist() == [255, 0, 128]
    assert len(np.unique(loaded[0, :, 0])) == 256


def test_rgba_is_composited_onto_the_background(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (16, 8), (255, 0, 0, 255))
    rgba.paste((0, 0, 255, 0), (8, 0, 16, 8))  # fully transparent blue
    rgba.paste((0, 255, 0, 128), (0, 4, 8, 8))  # half-transparent green
    path = _save(rgba, tmp_path / "alpha.png")
    loaded = np.asarray(imageio.load_user_image(path), dtype=int)
    assert loaded[0, 0].tolist() == [255, 0, 0]
    assert loaded[0, 15].tolist() == list(imageio.DEFAULT_BACKGROUND)
    assert np.abs(loaded[7, 0] - [64, 191, 64]).max() <= 1
    white = np.asarray(imageio.load_user_image(path, background=(255, 255, 255)), dtype=int)
    assert white[0, 15].tolist() == [255, 255, 255]


def test_greyscale_with_alpha(tmp_path: Path) -> None:
    la = Image.new("LA", (8, 8), (200, 0))
    loaded = np.asarray(imageio.load_user_image(_save(la, tmp_path / "la.png"), background=(10, 20, 30)))
    assert loaded[0, 0].tolist() == [10, 20, 30]


def test_palette_with_transparency(tmp_path: Path) -> None:
    palette_image = Image.new("P", (8, 4), 0)
    palette_image.putpalette([255, 0, 0, 0, 255, 0] + [0] * (256 * 3 - 6))
    palette_image.paste(1, (4, 0, 8, 4))
    palette_image.info["transparency"] = 1
    path = _save(palette_image, tmp_path / "pal.png", transparency=1)
    loaded = np.asarray(imageio.load_user_image(path), dtype=int)
    assert loaded[0, 0].tolist() == [255, 0, 0]
    assert loaded[0, 7].tolist() == list(imageio.DEFAULT_BACKGROUND)


@pytest.mark.parametrize(("fmt", "ext"), [("WEBP", "webp"), ("PNG", "png")])
def test_animations_give_their_first_frame(tmp_path: Path, fmt: str, ext: str) -> None:
    frames = [Image.new("RGB", (32, 16), colour) for colour in ((250, 10, 10), (10, 250, 10), (10, 10, 250))]
    path = tmp_path / f"anim.{ext}"
    extra = {"lossless": True} if fmt == "WEBP" else {}
    frames[0].save(path, format=fmt, save_all=True, append_images=frames[1:], duration=100, **extra)
    with Image.open(path) as raw:
        assert getattr(raw, "n_frames", 1) == 3
    loaded = np.asarray(imageio.load_user_image(path), dtype=int)
    assert np.abs(loaded - [250, 10, 10]).max() <= 2


def test_phone_mpo_jpeg_gives_its_first_picture(tmp_path: Path) -> None:
    # Phones write multi-picture JPEGs (MPO); Pillow reports them as "MPO", they are still JPEG files.
    first, second = Image.new("RGB", (32, 16), (250, 10, 10)), Image.new("RGB", (32, 16), (10, 250, 10))
    path = tmp_path / "phone.jpg"
    first.save(path, format="MPO", save_all=True, append_images=[second], quality=95)
    loaded = np.asarray(imageio.load_user_image(path), dtype=int)
    assert np.abs(loaded - [250, 10, 10]).max() <= 4


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    stored = Image.new("RGB", (40, 20), (255, 0, 0))
    stored.paste((0, 0, 255), (20, 0, 40, 20))  # stored: red left, blue right
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = _save(stored, tmp_path / "rotated.jpg", format="JPEG", quality=95, exif=exif.tobytes())
    loaded = imageio.load_user_image(path)
    assert loaded.size == (20, 40)
    pixels = np.asarray(loaded, dtype=int)
    assert np.abs(pixels[5, 10] - [255, 0, 0]).max() < 10  # the stored left is now the top
    assert np.abs(pixels[35, 10] - [0, 0, 255]).max() < 10


def test_icc_profile_is_converted_to_srgb(tmp_path: Path) -> None:
    from PIL import ImageCms

    lab_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    source = panorama(32, 16)
    path = _save(source, tmp_path / "srgb-tagged.png", icc_profile=lab_profile.tobytes())
    loaded = np.asarray(imageio.load_user_image(path), dtype=int)
    # An sRGB-tagged image stays (almost) the same after conversion to sRGB.
    assert np.abs(loaded - np.asarray(source, dtype=int)).max() <= 2


# ---------------------------------------------------------------- fitting


def bands(width: int, height: int, colours: list[tuple[int, int, int]]) -> Image.Image:
    image = Image.new("RGB", (width, height))
    step = width // len(colours)
    for i, colour in enumerate(colours):
        image.paste(colour, (i * step, 0, (i + 1) * step, height))
    return image


def test_fit_crop_keeps_the_centre() -> None:
    source = bands(300, 100, [(255, 0, 0), (0, 255, 0), (0, 0, 255)])  # 3:1
    fitted = imageio.fit_image(source, 64, 32, "crop")
    assert fitted.size == (64, 32)
    pixels = np.asarray(fitted, dtype=int)
    # The 200-px-wide centre crop holds 50 px of red, 100 of green, 50 of blue.
    assert np.abs(pixels[16, 32] - [0, 255, 0]).max() <= 2
    assert np.abs(pixels[16, 2] - [255, 0, 0]).max() <= 8
    assert np.abs(pixels[16, 61] - [0, 0, 255]).max() <= 8
    tall = imageio.fit_image(bands(100, 300, [(9, 9, 9)]), 64, 32, "crop")
    assert tall.size == (64, 32)


def test_fit_stretch_and_bad_mode() -> None:
    assert imageio.fit_image(panorama(100, 100), 64, 32, "stretch").size == (64, 32)
    with pytest.raises(RequestError, match="fit"):
        imageio.fit_image(panorama(), 64, 32, "zoom")


def test_fit_pad_horizontal_is_seamless_and_edge_aware() -> None:
    source = bands(100, 100, [(200, 40, 40), (40, 40, 200)])  # red left half, blue right half
    fitted = np.asarray(imageio.fit_image(source, 256, 128, "pad"), dtype=float)
    assert fitted.shape == (128, 256, 3)
    # The picture sits in the middle, scaled to the full height.
    assert np.abs(fitted[64, 100] - [200, 40, 40]).max() <= 2
    assert np.abs(fitted[64, 160] - [40, 40, 200]).max() <= 2
    # The pads start from the neighbouring picture edge colour…
    assert np.abs(fitted[64, 63] - [200, 40, 40]).max() <= 6
    assert np.abs(fitted[64, 192] - [40, 40, 200]).max() <= 6
    # …and meet smoothly across the 360° seam: column 0 and the last column differ by one blend step.
    seam_step = np.abs(fitted[:, 0] - fitted[:, -1]).max()
    pad_steps = np.abs(np.diff(fitted[:, :64], axis=1)).max()
    assert seam_step <= pad_steps <= 2


def test_fit_pad_vertical_converges_to_the_pole() -> None:
    source = bands(400, 100, [(255, 0, 0), (0, 0, 255)])  # 4:1, wider than a panorama
    fitted = np.asarray(imageio.fit_image(source, 256, 128, "pad"), dtype=int)
    assert fitted.shape == (128, 256, 3)
    # The top and bottom rows are single colours (the poles), the mean of the picture's edge rows.
    for row in (0, -1):
        assert np.ptp(fitted[row], axis=0).max() <= 2
        assert np.abs(fitted[row, 0] - [128, 0, 128]).max() <= 3
    assert np.abs(fitted[64, 10] - [255, 0, 0]).max() <= 2
