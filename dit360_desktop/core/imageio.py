"""Image files in and out: PNG/JPEG with parameters and GPano XMP, and safe loading of user images.

Writing puts three things in every file, each readable without the others:
- our complete metadata as JSON (PNG: compressed iTXt chunk ``dit360``; JPEG: a property in the XMP packet),
- an A1111-style ``parameters`` text (PNG: text chunk ``parameters``; JPEG: EXIF UserComment, as A1111 does),
- GPano XMP (PNG: uncompressed iTXt ``XML:com.adobe.xmp``; JPEG: APP1 with the Adobe XMP header), so that
  Google Photos, Facebook and Kuula open the file as a 360° panorama.
The A1111 text lives in ``core/parameters.py``; it is re-exported here.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import secrets
import struct
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps, PngImagePlugin, UnidentifiedImageError

from dit360_desktop.core.errors import ImageLoadError, RequestError
from dit360_desktop.core.parameters import format_a1111_parameters, parse_a1111_parameters

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
]

GPANO_NS = "http://ns.google.com/photos/1.0/panorama/"
DIT360_NS = "urn:x-dit360-desktop:metadata:1.0/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
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
_MAX_TEXT_BYTES = 8 * 1024 * 1024

# One 16K equirectangular panorama (16384×8192, 134 M pixels, ~400 MB as RGB). Larger files are refused
# before any pixel is decoded: the engine works at 2048×1024, so nothing bigger is useful.
MAX_USER_IMAGE_PIXELS = 16384 * 8192
USER_IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF")
# Transparent areas become mid grey: neutral for img2img (black or white would bias the exposure).
DEFAULT_BACKGROUND = (128, 128, 128)

# Magic numbers of formats people commonly try, to name them in the refusal.
_KNOWN_MAGIC = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"8BPS", "Photoshop PSD"),
    (b"%PDF", "PDF"),
    (b"\x76\x2f\x31\x01", "OpenEXR"),
    (b"#?RADIANCE", "Radiance HDR"),
    (b"qoif", "QOI"),
)


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


# ---------------------------------------------------------------- GPano XMP


def gpano_xmp(
    width: int,
    height: int,
    *,
    pose_heading_degrees: float | None = None,
    initial_view_heading_degrees: float | None = None,
    initial_view_pitch_degrees: float | None = None,
    initial_horizontal_fov_degrees: float | None = None,
    metadata_json: str | None = None,
) -> str:
    """Return an XMP packet that marks a ``width``×``height`` image as a full equirectangular panorama.

    Field types follow Google's Photo Sphere XMP reference
    (developers.google.com/streetview/spherical-metadata): the pixel fields and the initial view
    heading/pitch are integers, pose heading and FOV are reals.
    ``metadata_json`` adds our own metadata as a property in our namespace (used for JPEG).
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"panorama size must be positive (got {width}×{height})")
    ET.register_namespace("x", "adobe:ns:meta/")
    ET.register_namespace("rdf", RDF_NS)
    ET.register_namespace("GPano", GPANO_NS)
    ET.register_namespace("dit360", DIT360_NS)
    meta = ET.Element("{adobe:ns:meta/}xmpmeta")
    rdf = ET.SubElement(meta, f"{{{RDF_NS}}}RDF")
    desc = ET.SubElement(rdf, f"{{{RDF_NS}}}Description", {f"{{{RDF_NS}}}about": ""})
    fields: list[tuple[str, str]] = [
        ("ProjectionType", "equirectangular"),
        ("UsePanoramaViewer", "True"),
        ("FullPanoWidthPixels", str(int(width))),
        ("FullPanoHeightPixels", str(int(height))),
        ("CroppedAreaImageWidthPixels", str(int(width))),
        ("CroppedAreaImageHeightPixels", str(int(height))),
        ("CroppedAreaLeftPixels", "0"),
        ("CroppedAreaTopPixels", "0"),
    ]
    if pose_heading_degrees is not None:
        fields.append(("PoseHeadingDegrees", _real(pose_heading_degrees % 360.0)))
    if initial_view_heading_degrees is not None:
        fields.append(("InitialViewHeadingDegrees", str(round(initial_view_heading_degrees) % 360)))
    if initial_view_pitch_degrees is not None:
        pitch = max(-90, min(90, round(initial_view_pitch_degrees)))
        fields.append(("InitialViewPitchDegrees", str(pitch)))
    if initial_horizontal_fov_degrees is not None:
        fields.append(("InitialHorizontalFOVDegrees", _real(initial_horizontal_fov_degrees)))
    for name, value in fields:
        desc.set(f"{{{GPANO_NS}}}{name}", value)
    if metadata_json is not None:
        ET.SubElement(desc, f"{{{DIT360_NS}}}metadata").text = metadata_json
    return _xmp_packet(meta)


def _xmp_only_metadata(metadata_json: str) -> str:
    ET.register_namespace("x", "adobe:ns:meta/")
    ET.register_namespace("rdf", RDF_NS)
    ET.register_namespace("dit360", DIT360_NS)
    meta = ET.Element("{adobe:ns:meta/}xmpmeta")
    rdf = ET.SubElement(meta, f"{{{RDF_NS}}}RDF")
    desc = ET.SubElement(rdf, f"{{{RDF_NS}}}Description", {f"{{{RDF_NS}}}about": ""})
    ET.SubElement(desc, f"{{{DIT360_NS}}}metadata").text = metadata_json
    return _xmp_packet(meta)


def _xmp_packet(meta: ET.Element) -> str:
    body = ET.tostring(meta, encoding="unicode")
    # The xpacket wrapper lets XMP scanners find the packet in any file (XMP spec part 1, 7.3).
    return f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n{body}\n<?xpacket end="w"?>'


def _real(value: float) -> str:
    return f"{float(value):.6g}"


def _parse_xmp(xmp: str | bytes) -> tuple[dict[str, str], str | None]:
    """Return the GPano properties and our metadata JSON from an XMP packet (attribute or element form)."""
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    if len(xmp) > _MAX_TEXT_BYTES:
        raise ValueError("the XMP packet is implausibly large")
    # Some writers pad with NULs or trailing junk after the packet; keep the xmpmeta element only.
    start = xmp.find(b"<x:xmpmeta")
    end = xmp.rfind(b"</x:xmpmeta>")
    if start >= 0 and end > start:
        xmp = xmp[start : end + len(b"</x:xmpmeta>")]
    root = ET.fromstring(xmp)
    gpano: dict[str, str] = {}
    ours: str | None = None
    prefix = f"{{{GPANO_NS}}}"
    for desc in root.iter(f"{{{RDF_NS}}}Description"):
        for key, value in desc.attrib.items():
            if key.startswith(prefix):
                gpano[key[len(prefix) :]] = value
        for child in desc:
            if child.tag.startswith(prefix):
                gpano[child.tag[len(prefix) :]] = (child.text or "").strip()
            elif child.tag == f"{{{DIT360_NS}}}metadata":
                ours = child.text or ""
    return gpano, ours


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
        info.add_text(PNG_PARAMETERS_KEY, format_a1111_parameters(metadata))
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
    exif = Image.Exif()
    if metadata is not None:
        text = _metadata_json(metadata)
        xmp = gpano_xmp(image.width, image.height, metadata_json=text) if gpano else _xmp_only_metadata(text)
        # A1111 stores JPEG parameters as an EXIF UserComment with the "UNICODE" character code (UTF-16BE).
        comment = b"UNICODE\x00" + format_a1111_parameters(metadata).encode("utf-16-be")
        exif.get_ifd(_EXIF_IFD)[_USER_COMMENT] = comment
    elif gpano:
        xmp = gpano_xmp(image.width, image.height)
    if xmp is not None and len(xmp.encode("utf-8")) > _MAX_APP1_PAYLOAD:
        raise ValueError(
            "the metadata is too large for a JPEG XMP segment (64 KB); save as PNG or strip the metadata"
        )
    kwargs: dict[str, Any] = {"quality": quality, "optimize": True}
    # Chroma subsampling smears thin coloured detail; keep full chroma at the high qualities people export at.
    kwargs["subsampling"] = 0 if quality >= 90 else 2
    if xmp is not None:
        kwargs["xmp"] = xmp.encode("utf-8")
    if metadata is not None:
        kwargs["exif"] = exif.tobytes()
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **kwargs)
    return buffer.getvalue()


def save_png(
    image: Image.Image, path: str | os.PathLike[str], metadata: dict[str, Any] | None, *, gpano: bool = True
) -> Path:
    """Write a PNG atomically: the final path holds either the old file or the complete new one."""
    return _atomic_write(Path(path), encode_png(image, metadata, gpano=gpano))


def save_jpeg(
    image: Image.Image,
    path: str | os.PathLike[str],
    metadata: dict[str, Any] | None,
    *,
    quality: int = 92,
    gpano: bool = True,
) -> Path:
    """Write a JPEG atomically. ``metadata=None`` strips parameters; ``gpano`` alone keeps the 360 marker."""
    return _atomic_write(Path(path), encode_jpeg(image, metadata, quality=quality, gpano=gpano))


def _atomic_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temp file beside ``path``, fsync it, then os.replace it into place.

    Any error (ENOSPC, EIO, a full quota) removes the temp file and re-raises the original ``OSError``,
    so callers can tell a full disk (``errno.ENOSPC``) from other failures.
    """
    folder = path.parent
    temp = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
    # O_EXCL: never follow or reuse someone else's file; 0o666 lets the umask decide the final mode.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(temp, flags, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                if written <= 0:
                    raise OSError(errno.EIO, "the disk accepted no data", str(temp))
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        temp.replace(path)
    except BaseException:
        try:
            temp.unlink()
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(folder)
    return path


def _fsync_folder(folder: Path) -> None:
    # The rename is only durable once the directory entry is on disk (POSIX); Windows cannot open folders.
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
        struct.error,
        zlib.error,
        ET.ParseError,
        UnicodeDecodeError,
    ) as e:
        raise ImageLoadError(f"Could not read the metadata of {path}: {e}. The file may be damaged.") from e
    raise ImageLoadError(f"{path} is not a PNG or JPEG file, so it carries no panorama metadata.")


def _read_png_metadata(path: Path) -> ImageMetadata:
    texts = _png_text_chunks(path)
    gpano: dict[str, str] = {}
    if XMP_PNG_KEY in texts:
        gpano, _ = _parse_xmp(texts[XMP_PNG_KEY])
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
                gpano, ours_text = _parse_xmp(payload[len(XMP_JPEG_HEADER) :])
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


# ---------------------------------------------------------------- loading user images


def load_user_image(
    path: str | os.PathLike[str], *, background: tuple[int, int, int] = DEFAULT_BACKGROUND
) -> Image.Image:
    """Load a PNG, JPEG, WebP or TIFF as an 8-bit RGB image, safely; every failure is an ``ImageLoadError``.

    The real format is sniffed (the extension is ignored); the pixel count is checked against
    ``MAX_USER_IMAGE_PIXELS`` before decoding; the whole first frame is decoded inside the try so a truncated
    file fails here; EXIF orientation is applied; CMYK and embedded ICC profiles are converted to sRGB;
    16-bit data is scaled, not clipped; alpha is composited onto ``background``.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(f"{path} does not exist or is not a file.")
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Some other library switched this process-wide flag on; it would let half-decoded files through.
        log.warning("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on; truncated images may not be detected")
    try:
        with Image.open(path, formats=list(USER_IMAGE_FORMATS)) as opened:
            width, height = opened.size
            if width * height > MAX_USER_IMAGE_PIXELS:
                raise ImageLoadError(
                    f"{path.name} is {width}×{height} pixels, more than the limit of "
                    f"{MAX_USER_IMAGE_PIXELS:,} pixels (one 16384×8192 panorama). "
                    "Scale it down and try again."
                )
            opened.seek(0)
            opened.load()
            image = ImageOps.exif_transpose(opened)
            return _to_rgb(image, background)
    except ImageLoadError:
        raise
    except UnidentifiedImageError as e:
        raise ImageLoadError(_unsupported_message(path)) from e
    except Image.DecompressionBombError as e:
        raise ImageLoadError(
            f"{path.name} declares an enormous pixel count and was refused as a possible decompression bomb."
        ) from e
    except MemoryError as e:
        raise ImageLoadError(f"{path.name} is too large to load into memory.") from e
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError, KeyError) as e:
        raise ImageLoadError(
            f"{path.name} could not be read: it is truncated or damaged ({e}). Re-export it and try again."
        ) from e


def _unsupported_message(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError:
        head = b""
    kind = next((name for magic, name in _KNOWN_MAGIC if head.startswith(magic)), None)
    if kind is None and head[4:8] == b"ftyp":
        kind = "HEIF/AVIF"
    what = f"a {kind} file" if kind else "not a recognisable image"
    return (
        f"{path.name} is {what}. Only PNG, JPEG, WebP and TIFF images can be used; "
        "convert it to PNG or JPEG and try again."
    )


def _to_rgb(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return Image.fromarray(_scale_high_depth(image, mode)).convert("RGB")
    icc = image.info.get("icc_profile")
    if mode == "CMYK" or (icc and mode in ("RGB", "RGBA")):
        image = _icc_to_srgb(image, icc)
        mode = image.mode
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode in ("P", "L", "RGB") and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    if mode == "RGB":
        return image.copy()
    return image.convert("RGB")


def _scale_high_depth(image: Image.Image, mode: str) -> np.ndarray:
    """Map 16-bit, 32-bit integer or float greyscale to 8 bits without clipping."""
    values = np.asarray(image).astype(np.float64)
    if mode.startswith("I;16"):
        scaled = values / 257.0
    elif mode == "I" and values.size and values.min() >= 0 and values.max() <= 65535:
        # Pillow opens 16-bit PNG/TIFF greyscale as "I" in some versions: treat it as 16-bit data.
        scaled = values / 257.0
    elif mode == "F" and values.size and values.min() >= 0.0 and values.max() <= 1.0:
        scaled = values * 255.0
    else:
        # Unknown range (32-bit integers, HDR floats): stretch what is there to 0…255.
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _icc_to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    alpha = image.getchannel("A") if image.mode == "RGBA" else None
    source = image.convert("RGB") if image.mode == "RGBA" else image
    if icc:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(source, profile, srgb, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError) as e:
            # A broken profile should not make a usable picture unloadable; the colours are then
            # interpreted as sRGB (RGB) or converted with Pillow's plain formula (CMYK).
            log.warning("Ignoring the unusable colour profile embedded in an image: %s", e)
            converted = source.convert("RGB")
    else:
        converted = source.convert("RGB")
    if alpha is not None:
        converted.putalpha(alpha)
    return converted


# ---------------------------------------------------------------- fitting


def fit_image(image: Image.Image, width: int, height: int, mode: str) -> Image.Image:
    """Fit ``image`` to ``width``×``height`` by "crop", "pad" or "stretch" (Lanczos resampling).

    - crop: the largest centred region of the target aspect, resized.
    - pad: the whole image, scaled to fit, centred; see ``_pad_fill`` for what fills the rest.
    - stretch: a plain resize that ignores the aspect ratio.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"target size must be positive (got {width}×{height})")
    image = image if image.mode == "RGB" else image.convert("RGB")
    src_w, src_h = image.size
    if mode == "stretch":
        return image.resize((width, height), Image.Resampling.LANCZOS)
    if mode == "crop":
        target = width / height
        if src_w / src_h > target:
            crop_w = src_h * target
            box = ((src_w - crop_w) / 2, 0.0, (src_w + crop_w) / 2, float(src_h))
        else:
            crop_h = src_w / target
            box = (0.0, (src_h - crop_h) / 2, float(src_w), (src_h + crop_h) / 2)
        # Resizing from a fractional box avoids a second resample and any off-by-half-pixel shift.
        return image.resize((width, height), Image.Resampling.LANCZOS, box=box)
    if mode == "pad":
        return _pad(image, width, height)
    raise RequestError("fit", f"must be one of crop, pad, stretch (got {mode!r})")


def _pad(image: Image.Image, width: int, height: int) -> Image.Image:
    scale = min(width / image.width, height / image.height)
    inner_w = max(1, min(width, round(image.width * scale)))
    inner_h = max(1, min(height, round(image.height * scale)))
    inner = np.asarray(image.resize((inner_w, inner_h), Image.Resampling.LANCZOS), dtype=np.float32)
    return Image.fromarray(_pad_fill(inner, width, height))


def _pad_fill(inner: np.ndarray, width: int, height: int) -> np.ndarray:
    """Centre ``inner`` in a panorama canvas and fill the rest so it stays continuous.

    Horizontally the two side pads meet at the 360° seam, so each row is filled by blending from the
    (vertically smoothed) right edge colour of the picture, across the seam, to its left edge colour: the
    fill has no seam and no hard border. Vertically the pads run towards the poles, where an equirectangular
    row collapses to one point, so each column blends from the picture's edge row to that row's mean colour.
    """
    inner_h, inner_w = inner.shape[:2]
    left = (width - inner_w) // 2
    top = (height - inner_h) // 2
    canvas = np.empty((height, width, 3), dtype=np.float32)
    rows = slice(top, top + inner_h)
    canvas[rows, left : left + inner_w] = inner
    gap = width - inner_w
    if gap:
        smooth = max(1, inner_h // 32)
        left_edge = _box_blur_rows(inner[:, : min(4, inner_w)].mean(axis=1), smooth)
        right_edge = _box_blur_rows(inner[:, -min(4, inner_w) :].mean(axis=1), smooth)
        # Pad columns in wrap order: right pad (after the picture) then left pad (before it, across the seam).
        t = (np.arange(gap, dtype=np.float32) + 1.0) / (gap + 1.0)
        fill = right_edge[:, None, :] * (1.0 - t[None, :, None]) + left_edge[:, None, :] * t[None, :, None]
        right_count = width - (left + inner_w)
        canvas[rows, left + inner_w :] = fill[:, :right_count]
        canvas[rows, :left] = fill[:, right_count:]
    band = canvas[rows]
    if top:
        canvas[:top] = _pole_fill(band[0], top, toward_pole_first=True)
    bottom = height - (top + inner_h)
    if bottom:
        canvas[top + inner_h :] = _pole_fill(band[-1], bottom, toward_pole_first=False)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def _pole_fill(edge_row: np.ndarray, count: int, *, toward_pole_first: bool) -> np.ndarray:
    pole = edge_row.mean(axis=0)
    # t = 1 at the pole (outermost row), falling towards the picture.
    t = (np.arange(count, dtype=np.float32) + 1.0) / count
    t = t[::-1] if toward_pole_first else t
    return edge_row[None, :, :] * (1.0 - t[:, None, None]) + pole[None, None, :] * t[:, None, None]


def _box_blur_rows(column: np.ndarray, radius: int) -> np.ndarray:
    """Box-blur an (H, 3) column along H with edge clamping, so single-row noise does not streak the fill."""
    padded = np.concatenate([np.repeat(column[:1], radius, 0), column, np.repeat(column[-1:], radius, 0)])
    sums = np.cumsum(np.concatenate([np.zeros((1, column.shape[1]), column.dtype), padded]), axis=0)
    window = 2 * radius + 1
    return (sums[window:] - sums[:-window]) / window
