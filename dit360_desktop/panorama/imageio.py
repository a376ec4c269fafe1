"""Panorama files: PNG/JPEG with our metadata, A1111 parameters and GPano XMP; reading them back.

Writing puts three things in every file, each readable without the others:
- our complete metadata as JSON (PNG: compressed iTXt chunk ``dit360``; JPEG: a property in the XMP packet),
- an A1111-style ``parameters`` text (PNG: text chunk ``parameters``; JPEG: EXIF UserComment, as A1111 does),
- GPano XMP (PNG: uncompressed iTXt ``XML:com.adobe.xmp``; JPEG: APP1 with the Adobe XMP header), so that
  Google Photos, Facebook and Kuula open the file as a 360° panorama.
Every save is atomic (``fileio.write_atomic``: temp file, fsync, rename, folder fsync). This module is
the single import for image files: the A1111 text (``parameters.py``), the XMP packet (``xmp.py``) and
safe loading of user images (``userimage.py``) are re-exported here.
"""

from __future__ import annotations

import io
import json
import logging
import os
import struct
import threading
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, PngImagePlugin

from dit360_desktop.panorama.errors import ImageLoadError, RequestError
from dit360_desktop.panorama.exif import jpeg_exif
from dit360_desktop.panorama.fileio import write_atomic
from dit360_desktop.panorama.parameters import format_a1111_parameters, parse_a1111_parameters
from dit360_desktop.panorama.userimage import (
    DEFAULT_BACKGROUND,
    MAX_USER_IMAGE_PIXELS,
    USER_IMAGE_FORMATS,
    fit_image,
    load_user_image,
)
from dit360_desktop.panorama.xmp import GPANO_NS, MAX_XMP_BYTES, gpano_xmp, metadata_xmp, parse_xmp

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BACKGROUND",
    "GPANO_NS",
    "MAX_USER_IMAGE_PIXELS",
    "USER_IMAGE_FORMATS",
    "ImageMetadata",
    "encode_jpeg",
    "encode_png",
    "fit_image",
    "format_a1111_parameters",
    "gpano_xmp",
    "load_user_image",
    "parse_a1111_parameters",
    "read_metadata",
    "save_jpeg",
    "save_png",
    "save_webp",
]

XMP_PNG_KEY = "XML:com.adobe.xmp"
XMP_JPEG_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
PNG_JSON_KEY = "dit360"
PNG_PARAMETERS_KEY = "parameters"
# EXIF tags: the Exif sub-IFD pointer and UserComment inside it (EXIF 2.32, section 4.6.5).
_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
# A JPEG segment holds at most 65535 bytes including its 2-byte length field.
_MAX_APP1_PAYLOAD = 65535 - 2 - len(XMP_JPEG_HEADER)
# Reading refuses text larger than this, so a hostile file cannot make us inflate gigabytes.
_MAX_TEXT_BYTES = MAX_XMP_BYTES
# Room for the JPEG's own headers and tables beyond the pixels and the metadata.
_JPEG_HEADER_SLACK = 1 << 16
_MAXBLOCK_LOCK = threading.Lock()


@dataclass(frozen=True)
class ImageMetadata:
    # Our own complete metadata (the Result's metadata dict), or None when the file has none.
    dit360: dict[str, Any] | None = None
    # The A1111-style parameters text, ours or another tool's.
    parameters: str | None = None
    # GPano properties by local name, e.g. {"ProjectionType": "equirectangular"}
    gpano: dict[str, str] = field(default_factory=dict)
    # "PNG" or "JPEG".
    format: str = ""


# ---------------------------------------------------------------- writing


def _metadata_json(metadata: dict[str, Any]) -> str:
    def default(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, np.generic):
            return value.item()
        raise TypeError(f"metadata value of type {type(value).__name__} is not JSON-serialisable")

    return json.dumps(metadata, ensure_ascii=False, default=default)


def _rgb_for_saving(image: Image.Image) -> Image.Image:
    if image.mode in ("RGB", "L"):
        return image
    if image.mode in ("RGBA", "LA", "PA", "P"):
        return image.convert("RGB")
    raise ValueError(f"cannot save a {image.mode} image as a panorama; convert it to RGB first")


def encode_png(image: Image.Image, metadata: dict[str, Any] | None, *, gpano: bool = True) -> bytes:
    """Encode ``image`` as PNG bytes with our JSON, the A1111 parameters and (optionally) GPano XMP."""
    image = _rgb_for_saving(image)
    info = PngImagePlugin.PngInfo()
    if metadata is not None:
        # tEXt is Latin-1 only; Pillow switches to iTXt by itself when the prompt needs more.
        # The PNG spec forbids NUL in text chunks (it ends the keyword); a pasted prompt may hold one.
        info.add_text(PNG_PARAMETERS_KEY, format_a1111_parameters(metadata).replace("\x00", ""))
        info.add_itxt(PNG_JSON_KEY, _metadata_json(metadata), zip=True)
    if gpano:
        # Adobe's XMP spec part 3: PNG XMP is an uncompressed iTXt chunk with this keyword.
        info.add_itxt(XMP_PNG_KEY, gpano_xmp(image.width, image.height), zip=False)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, compress_level=6)
    return buffer.getvalue()


def encode_jpeg(
    image: Image.Image, metadata: dict[str, Any] | None, *, quality: int = 92, gpano: bool = True
) -> bytes:
    """Encode ``image`` as JPEG bytes; XMP in APP1 (GPano and/or our JSON), parameters in EXIF UserComment."""
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise RequestError("quality", f"must be an integer between 1 and 100 (got {quality!r})")
    image = _rgb_for_saving(image)
    xmp: str | None = None
    exif: bytes | None = None
    if metadata is not None:
        text = _metadata_json(metadata)
        xmp = gpano_xmp(image.width, image.height, metadata_json=text) if gpano else metadata_xmp(text)
        # A1111 stores JPEG parameters as an EXIF UserComment (type UNDEFINED, charset prefix).
        exif = jpeg_exif(image.width, image.height, format_a1111_parameters(metadata))
    elif gpano:
        xmp = gpano_xmp(image.width, image.height)
    if xmp is not None and len(xmp.encode("utf-8")) > _MAX_APP1_PAYLOAD:
        raise ValueError(
            "the metadata is too large for a JPEG XMP segment (64 KB); save as PNG or strip the metadata"
        )
    kwargs: dict[str, Any] = {"quality": quality}
    # Chroma subsampling smears thin coloured detail; keep full chroma at the high qualities people export at.
    kwargs["subsampling"] = 0 if quality >= 90 else 2
    if xmp is not None:
        kwargs["xmp"] = xmp.encode("utf-8")
    if exif is not None:
        kwargs["exif"] = exif
    return _encode_jpeg_optimized(image, kwargs)


def _encode_jpeg_optimized(image: Image.Image, kwargs: dict[str, Any]) -> bytes:
    """JPEG bytes with optimised Huffman tables (about a quarter smaller on smooth pictures).

    libjpeg writes an optimised stream only at the end, in one go ("Suspension not allowed here"), so
    Pillow's output buffer must hold the whole file; Pillow sizes it at one byte per pixel, which a
    detailed picture at full chroma outgrows (noise at quality 92 takes 2 bytes per pixel), and the save
    fails with "broken data stream". The buffer is sized here for the raw pixels (3 bytes per pixel,
    plus the metadata); it is allocated but only the written part is touched. Only a picture whose
    compressed size exceeds its raw size (noise above quality 95) outgrows that: it is encoded with the
    standard tables instead, which stream through any buffer and decode to the same pixels.
    """
    extra = sum(len(kwargs.get(key) or b"") for key in ("xmp", "exif"))
    bound = 3 * image.width * image.height + extra + _JPEG_HEADER_SLACK
    buffer = io.BytesIO()
    with _MAXBLOCK_LOCK:
        # MAXBLOCK is Pillow's floor for every encoder's buffer; raising it for this save only makes a
        # concurrent save elsewhere allocate more, never fail.
        saved = ImageFile.MAXBLOCK
        ImageFile.MAXBLOCK = max(saved, bound)
        try:
            image.save(buffer, format="JPEG", optimize=True, **kwargs)
            return buffer.getvalue()
        except OSError as e:
            log.info("The optimised JPEG outgrew %d bytes (%s); writing standard Huffman tables", bound, e)
        finally:
            ImageFile.MAXBLOCK = saved
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", optimize=False, **kwargs)
    return buffer.getvalue()


def encode_webp(image: Image.Image, metadata: dict[str, Any] | None, *, quality: int = 92) -> bytes:
    """Encode a (non-360) view as WebP; the parameters go in XMP and EXIF as for a JPEG."""
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise RequestError("quality", f"must be an integer between 1 and 100 (got {quality!r})")
    image = _rgb_for_saving(image)
    kwargs: dict[str, Any] = {"quality": quality, "method": 4}
    if metadata is not None:
        kwargs["xmp"] = metadata_xmp(_metadata_json(metadata)).encode("utf-8")
        kwargs["exif"] = jpeg_exif(image.width, image.height, format_a1111_parameters(metadata))
    buffer = io.BytesIO()
    image.save(buffer, format="WEBP", **kwargs)
    return buffer.getvalue()


def save_webp(
    image: Image.Image, path: str | os.PathLike[str], metadata: dict[str, Any] | None, *, quality: int = 92
) -> Path:
    return write_atomic(Path(path), encode_webp(image, metadata, quality=quality))


def save_png(
    image: Image.Image, path: str | os.PathLike[str], metadata: dict[str, Any] | None, *, gpano: bool = True
) -> Path:
    """Write a PNG atomically: the final path holds either the old file or the complete new one."""
    return write_atomic(Path(path), encode_png(image, metadata, gpano=gpano))


def save_jpeg(
    image: Image.Image,
    path: str | os.PathLike[str],
    metadata: dict[str, Any] | None,
    *,
    quality: int = 92,
    gpano: bool = True,
) -> Path:
    """Write a JPEG atomically. ``metadata=None`` strips parameters; ``gpano`` alone keeps the 360 marker."""
    return write_atomic(Path(path), encode_jpeg(image, metadata, quality=quality, gpano=gpano))


# ---------------------------------------------------------------- reading metadata


def read_metadata(path: str | os.PathLike[str]) -> ImageMetadata:
    """Read our JSON, the A1111 parameters and the GPano fields of a PNG or JPEG without decoding pixels."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            return _read_png_metadata(path)
        if head.startswith(b"\xff\xd8"):
            return _read_jpeg_metadata(path)
    except (
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
        KeyError,
        struct.error,
        zlib.error,
        ET.ParseError,
    ) as e:
        raise ImageLoadError(f"Could not read the metadata of {path}: {e}. The file may be damaged.") from e
    raise ImageLoadError(f"{path} is not a PNG or JPEG file, so it carries no panorama metadata.")


def _read_png_metadata(path: Path) -> ImageMetadata:
    texts = _png_text_chunks(path)
    gpano: dict[str, str] = {}
    if XMP_PNG_KEY in texts:
        gpano, _ = parse_xmp(texts[XMP_PNG_KEY])
    ours = _decode_our_json(texts.get(PNG_JSON_KEY))
    return ImageMetadata(dit360=ours, parameters=texts.get(PNG_PARAMETERS_KEY), gpano=gpano, format="PNG")


def _png_text_chunks(path: Path) -> dict[str, str]:
    """Collect tEXt, zTXt and iTXt chunks from the whole file (before and after IDAT), skipping pixel data."""
    texts: dict[str, str] = {}
    total = 0
    with path.open("rb") as handle:
        handle.seek(8)
        while True:
            header = handle.read(8)
            if len(header) < 8:
                raise ValueError("the PNG ends before its IEND chunk")
            length, kind = struct.unpack(">I4s", header)
            if kind == b"IEND":
                break
            if kind not in (b"tEXt", b"zTXt", b"iTXt"):
                handle.seek(length + 4, os.SEEK_CUR)
                continue
            total += length
            if total > _MAX_TEXT_BYTES:
                raise ValueError("the PNG's text chunks are implausibly large")
            data = handle.read(length)
            handle.seek(4, os.SEEK_CUR)
            if len(data) < length:
                raise ValueError("the PNG is truncated inside a text chunk")
            key, value = _decode_png_text(kind, data)
            texts[key] = value
    return texts


def _decode_png_text(kind: bytes, data: bytes) -> tuple[str, str]:
    key, _, rest = data.partition(b"\x00")
    keyword = key.decode("latin-1")
    if kind == b"tEXt":
        return keyword, rest.decode("latin-1")
    if kind == b"zTXt":
        return keyword, _inflate(rest[1:]).decode("latin-1")
    compressed, method = rest[0], rest[1]
    _language, _, rest = rest[2:].partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    if compressed:
        if method != 0:
            raise ValueError(f"unknown iTXt compression method {method}")
        text = _inflate(text)
    return keyword, text.decode("utf-8")


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, _MAX_TEXT_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError("a compressed text chunk expands beyond 8 MB")
    return out


def _read_jpeg_metadata(path: Path) -> ImageMetadata:
    gpano: dict[str, str] = {}
    ours_text: str | None = None
    parameters: str | None = None
    with Image.open(path, formats=["JPEG"]) as image:
        for marker, payload in image.applist:
            if marker == "APP1" and payload.startswith(XMP_JPEG_HEADER):
                gpano, ours_text = parse_xmp(payload[len(XMP_JPEG_HEADER) :])
        comment = image.getexif().get_ifd(_EXIF_IFD).get(_USER_COMMENT)
        if comment is not None:
            parameters = _decode_user_comment(comment)
    return ImageMetadata(
        dit360=_decode_our_json(ours_text), parameters=parameters, gpano=gpano, format="JPEG"
    )


def _decode_user_comment(value: bytes | str) -> str | None:
    if isinstance(value, str):
        return value or None
    code, body = value[:8], value[8:]
    if code == b"UNICODE\x00":
        if body.startswith((b"\xfe\xff", b"\xff\xfe")):
            return body.decode("utf-16")
        # The EXIF spec leaves the byte order open; A1111 (piexif) writes big-endian. Little-endian ASCII
        # text has NULs at odd offsets, which is how writers that use it are recognised.
        little = len(body) >= 2 and body[1::2].count(0) > len(body) // 4 and body[0::2].count(0) == 0
        return body.decode("utf-16-le" if little else "utf-16-be")
    if code in (b"ASCII\x00\x00\x00", b"\x00" * 8):
        return body.rstrip(b"\x00").decode("utf-8", errors="replace") or None
    return value.decode("utf-8", errors="replace") or None


def _decode_our_json(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("the dit360 metadata is not a JSON object")
    return value
