"""Loading images that users bring (init images for img2img) safely, and fitting them to the canvas.

Only PNG, JPEG, WebP and TIFF are accepted, by their content, never their extension. Everything that can
go wrong with a user's file ends as an ``ImageLoadError`` that names the file and says what to do.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from dit360_desktop.panorama.errors import ImageLoadError, RequestError

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_BACKGROUND",
    "MAX_USER_IMAGE_PIXELS",
    "USER_IMAGE_FORMATS",
    "fit_image",
    "load_user_image",
]

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
            # Not in place: the result must outlive the file, and closing ``opened`` destroys its pixels.
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
        return image
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
