"""Exports, checked by parsers and geometry written here, independently of the writers."""

from __future__ import annotations

import math
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import numpy as np
import pytest
from history_factory import make_result
from PIL import Image

from dit360_desktop.history.export import ExportOptions, export_entry, export_image
from dit360_desktop.history.library import Library
from dit360_desktop.panorama.errors import RequestError

GPANO = "http://ns.google.com/photos/1.0/panorama/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
PROMPT = "This is a panorama image. Secret orchard at dusk"


# Independent readers


def _jpeg_app1_payloads(data: bytes) -> list[bytes]:
    assert data[:2] == b"\xff\xd8"
    payloads, pos = [], 2
    while pos < len(data):
        assert data[pos] == 0xFF
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: the metadata segments are all before it
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker == 0xE1:
            payloads.append(data[pos + 4 : pos + 2 + length])
        pos += 2 + length
    return payloads


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0]
        chunks.append((kind, body))
        pos += 12 + length
    return chunks


def _png_itxt(data: bytes) -> dict[str, str]:
    found = {}
    for kind, body in _png_chunks(data):
        if kind == b"iTXt":
            key, rest = body.split(b"\x00", 1)
            compressed, text = rest[0], rest[2:].split(b"\x00", 2)[2]
            found[key.decode("latin-1")] = (zlib.decompress(text) if compressed else text).decode("utf-8")
    return found


def _gpano_fields(xmp: bytes | str) -> dict[str, str]:
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    start, end = xmp.index(b"<x:xmpmeta"), xmp.index(b"</x:xmpmeta>") + len(b"</x:xmpmeta>")
    root = ET.fromstring(xmp[start:end])
    fields = {}
    for desc in root.iter(f"{{{RDF}}}Description"):
        for key, value in desc.attrib.items():
            if key.startswith(f"{{{GPANO}}}"):
                fields[key.split("}")[1]] = value
        for child in desc:
            if child.tag.startswith(f"{{{GPANO}}}"):
                fields[child.tag.split("}")[1]] = child.text or ""
    return fields


def _assert_full_pano(fields: dict[str, str], width: int, height: int) -> None:
    assert fields["ProjectionType"] == "equirectangular"
    assert fields["UsePanoramaViewer"] == "True"
    assert int(fields["FullPanoWidthPixels"]) == int(fields["CroppedAreaImageWidthPixels"]) == width
    assert int(fields["FullPanoHeightPixels"]) == int(fields["CroppedAreaImageHeightPixels"]) == height
    assert int(fields["CroppedAreaLeftPixels"]) == int(fields["CroppedAreaTopPixels"]) == 0


@pytest.fixture
def entry(library: Library):
    return library.save(make_result(PROMPT, seed=77, width=256, height=128))


def test_jpeg_export_carries_gpano_and_the_parameters(entry, tmp_path: Path) -> None:
    out = tmp_path / "pano.jpg"
    assert export_entry(entry, out, ExportOptions("jpeg-gpano", quality=95)) == [out]
    data = out.read_bytes()
    xmp = [p for p in _jpeg_app1_payloads(data) if p.startswith(b"http://ns.adobe.com/xap/1.0/\x00")]
    assert len(xmp) == 1
    _assert_full_pano(_gpano_fields(xmp[0]), 256, 128)
    assert PROMPT.encode("utf-8") in data
    # The A1111 text travels in EXIF UserComment (ASCII-prefixed here: the text is plain ASCII).
    assert b"ASCII\x00\x00\x00" + PROMPT.encode("ascii") in data
    assert b"Steps:" in data
    with Image.open(out) as decoded:
        assert decoded.size == (256, 128)
        diff = np.abs(
            np.asarray(decoded, dtype=np.int16) - np.asarray(Image.open(entry.path), dtype=np.int16)
        )
    assert diff.mean() < 4.0


def test_jpeg_quality_is_applied(entry, tmp_path: Path) -> None:
    low, high = tmp_path / "low.jpg", tmp_path / "high.jpg"
    export_entry(entry, low, ExportOptions("jpeg-gpano", quality=20, strip_metadata=True))
    export_entry(entry, high, ExportOptions("jpeg-gpano", quality=98, strip_metadata=True))
    assert low.stat().st_size < high.stat().st_size * 0.6


def test_strip_metadata_removes_the_prompt_but_keeps_the_360_marker(entry, tmp_path: Path) -> None:
    jpeg, png = tmp_path / "private.jpg", tmp_path / "private.png"
    export_entry(entry, jpeg, ExportOptions("jpeg-gpano", strip_metadata=True))
    export_entry(entry, png, ExportOptions("png", strip_metadata=True))
    for path in (jpeg, png):
        data = path.read_bytes()
        # The prompt, our JSON and the A1111 text are all gone (checked in UTF-8 and EXIF's UTF-16).
        for secret in ("Secret orchard", "negative_prompt", "Steps:"):
            assert secret.encode("utf-8") not in data
            assert secret.encode("utf-16-be") not in data
    _assert_full_pano(_gpano_fields(_jpeg_app1_payloads(jpeg.read_bytes())[0]), 256, 128)
    texts = _png_itxt(png.read_bytes())
    assert set(texts) == {"XML:com.adobe.xmp"}
    _assert_full_pano(_gpano_fields(texts["XML:com.adobe.xmp"]), 256, 128)
    assert not any(kind in (b"tEXt", b"zTXt") for kind, _ in _png_chunks(png.read_bytes()))


def test_png_export_keeps_pixels_parameters_and_gpano(entry, tmp_path: Path) -> None:
    out = tmp_path / "pano.png"
    export_entry(entry, out, ExportOptions("png"))
    texts = _png_itxt(out.read_bytes())
    _assert_full_pano(_gpano_fields(texts["XML:com.adobe.xmp"]), 256, 128)
    assert PROMPT in texts["dit360"]
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(entry.path)))


# Geometry against an analytic panorama: colour = function of direction


def _colour(d: np.ndarray) -> np.ndarray:
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    return (d + 1.0) * 127.5


def _analytic_panorama(width: int = 1024, height: int = 512) -> Image.Image:
    # Documented convention: yaw (u-0.5)*360 with yaw 0 = +Z forward and yaw 90 = +X; pitch up = +Y.
    u = (np.arange(width) + 0.5) / width
    v = (np.arange(height) + 0.5) / height
    yaw = (u[None, :] - 0.5) * 2 * math.pi
    pitch = (0.5 - v[:, None]) * math.pi
    d = np.stack(
        np.broadcast_arrays(np.cos(pitch) * np.sin(yaw), np.sin(pitch), np.cos(pitch) * np.cos(yaw)), -1
    )
    return Image.fromarray(np.rint(_colour(d)).astype(np.uint8), "RGB")


# OpenGL 4.6 table 8.19: face -> (major axis index, sign), sc = sign*axis, tc = sign*axis.
GL_FACES = {
    "px": ((0, +1), (2, -1), (1, -1)),
    "nx": ((0, -1), (2, +1), (1, -1)),
    "py": ((1, +1), (0, +1), (2, +1)),
    "ny": ((1, -1), (0, +1), (2, -1)),
    "pz": ((2, +1), (0, +1), (1, -1)),
    "nz": ((2, -1), (0, -1), (1, -1)),
}


def _gl_face_directions(face: str, n: int) -> np.ndarray:
    (ma, ma_sign), (sc_axis, sc_sign), (tc_axis, tc_sign) = GL_FACES[face]
    s = 2 * (np.arange(n) + 0.5) / n - 1  # texture s runs along image columns, t along rows (row 0 = t 0)
    d = np.zeros((n, n, 3))
    d[..., ma] = ma_sign
    d[..., sc_axis] = sc_sign * s[None, :]
    d[..., tc_axis] = tc_sign * s[:, None]
    return d


def test_cubemap_faces_match_their_directions(tmp_path: Path) -> None:
    out = tmp_path / "cube"
    written = export_image(_analytic_panorama(), None, out, ExportOptions("cubemap", face_size=64))
    assert [p.name for p in written] == ["px.png", "nx.png", "py.png", "ny.png", "pz.png", "nz.png"]
    for path in written:
        face = np.asarray(Image.open(path), dtype=np.float64)
        assert face.shape == (64, 64, 3)
        expected = _colour(_gl_face_directions(path.stem, 64))
        error = np.abs(face - expected)
        assert error.max() <= 4.0, (path.stem, error.max())
    # Face order and orientation, spelled out: px looks along +X, and the side faces have +Y at the top.
    px = np.asarray(Image.open(out / "px.png"), dtype=np.float64)
    assert np.allclose(px[32, 32], [255, 127.5, 127.5], atol=6)
    assert px[0, 32, 1] > 200 and px[63, 32, 1] < 55


def test_cube_faces_meet_without_seams(tmp_path: Path) -> None:
    written = export_image(
        _analytic_panorama(), None, tmp_path / "cube", ExportOptions("cubemap", face_size=64)
    )
    faces = {p.stem: np.asarray(Image.open(p), dtype=np.float64) for p in written}
    # px's left edge continues pz's right edge (turning right from forward).
    assert np.abs(faces["pz"][:, -1] - faces["px"][:, 0]).max() <= 6
    assert np.abs(faces["nx"][:, -1] - faces["pz"][:, 0]).max() <= 6
    # py's bottom row borders pz's top row.
    assert np.abs(faces["py"][-1, :] - faces["pz"][0, :]).max() <= 6


def test_cross_layout_geometry(tmp_path: Path) -> None:
    pano = _analytic_panorama()
    cube = export_image(pano, None, tmp_path / "cube", ExportOptions("cubemap", face_size=32))
    (cross_path,) = export_image(
        pano, None, tmp_path / "cross.png", ExportOptions("cubemap-cross", face_size=32)
    )
    cross = np.asarray(Image.open(cross_path))
    assert cross.shape == (96, 128, 3)
    faces = {p.stem: np.asarray(Image.open(p)) for p in cube}
    cells = {(0, 1): "py", (1, 0): "nx", (1, 1): "pz", (1, 2): "px", (1, 3): "nz", (2, 1): "ny"}
    for row in range(3):
        for col in range(4):
            cell = cross[row * 32 : (row + 1) * 32, col * 32 : (col + 1) * 32]
            if (row, col) in cells:
                assert np.array_equal(cell, faces[cells[(row, col)]]), (row, col)
            else:
                assert not cell.any(), (row, col)


@pytest.mark.parametrize(("yaw", "pitch", "fov"), [(0, 0, 90), (30, 20, 75), (-135, -40, 100)])
def test_perspective_view_matches_its_directions(
    tmp_path: Path, yaw: float, pitch: float, fov: float
) -> None:
    width, height = 80, 60
    (out,) = export_image(
        _analytic_panorama(),
        None,
        tmp_path / "view.png",
        ExportOptions("perspective", yaw=yaw, pitch=pitch, fov=fov, size=(width, height)),
    )
    view = np.asarray(Image.open(out), dtype=np.float64)
    assert view.shape == (height, width, 3)
    y, p = math.radians(yaw), math.radians(pitch)
    forward = np.array([math.sin(y) * math.cos(p), math.sin(p), math.cos(y) * math.cos(p)])
    right = np.array([math.cos(y), 0.0, -math.sin(y)])
    up = np.array([-math.sin(y) * math.sin(p), math.cos(p), -math.cos(y) * math.sin(p)])
    tan_x = math.tan(math.radians(fov) / 2)
    xs = (2 * (np.arange(width) + 0.5) / width - 1) * tan_x
    ys = (1 - 2 * (np.arange(height) + 0.5) / height) * tan_x * height / width
    rays = forward + xs[None, :, None] * right + ys[:, None, None] * up
    assert np.abs(view - _colour(rays)).max() <= 4.0


def test_export_rejects_bad_options_and_missing_images(library: Library, tmp_path: Path) -> None:
    with pytest.raises(RequestError, match="format"):
        export_image(_analytic_panorama(64, 32), None, tmp_path / "x", ExportOptions("gif"))
    with pytest.raises(RequestError, match="fov"):
        export_image(
            _analytic_panorama(64, 32), None, tmp_path / "x.png", ExportOptions("perspective", fov=0)
        )
    with pytest.raises(RequestError, match="quality"):
        export_image(
            _analytic_panorama(64, 32), None, tmp_path / "x.jpg", ExportOptions("jpeg-gpano", quality=0)
        )
