"""Linear-light exports for 3D tools: OpenEXR (half float) and Radiance RGBE, plus highlight expansion.

Colour: the panorama's PNG pixels are sRGB (IEC 61966-2-1) with Rec.709 primaries and a D65 white; the
exports hold the same primaries in linear light, which is what Blender's world, Unreal's HDRI backdrop
and Houdini's environment light expect. With highlight expansion off (the default) every value is exactly
the sRGB → linear conversion of the 8-bit pixel.

Highlight expansion (inverse tone mapping of the brightest regions, so a sun or a lamp lights the scene
instead of clipping at 1.0). With Rec.709 luminance Y = 0.2126 R + 0.7152 G + 0.0722 B of the linear
pixel, a knee k = ``HIGHLIGHT_KNEE`` and a strength S in stops (0 … ``MAX_HIGHLIGHT_STOPS``):

    w    = clamp((Y − k) / (1 − k), 0, 1)          0 below the knee, 1 at clipped white
    gain = 2^(S · w²)                               1 below the knee; 2^S at white
    RGB' = RGB · gain

The gain starts flat at the knee (w² has zero slope there), so there is no visible edge, and Y · gain
rises with Y, so the order of brightness is kept; hue is kept because all three channels scale alike.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np

from dit360_desktop.panorama.errors import DiT360Error
from dit360_desktop.panorama.fileio import write_atomic

__all__ = [
    "HIGHLIGHT_KNEE",
    "MAX_HIGHLIGHT_STOPS",
    "REC709_CHROMATICITIES",
    "ExrUnavailableError",
    "encode_rgbe",
    "expand_highlights",
    "linear_to_srgb",
    "save_exr",
    "save_hdr",
    "srgb_to_linear",
    "to_linear",
]

HIGHLIGHT_KNEE = 0.6
MAX_HIGHLIGHT_STOPS = 8.0
# Red, green, blue and white (D65) xy: the Rec.709 / sRGB primaries (ITU-R BT.709-6, table 1).
REC709_CHROMATICITIES = (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290)
_LUMA = np.array([0.2126, 0.7152, 0.0722])


class ExrUnavailableError(DiT360Error):
    """The OpenEXR library is not installed, so EXR files cannot be written."""

    exit_code = 1


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 decoding: uint8 (0…255) or floats (0…1) → linear float64 (0…1)."""
    array = np.asarray(values)
    c = array.astype(np.float64) / 255.0 if array.dtype == np.uint8 else array.astype(np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 encoding of linear values, clipped to 0…1, as floats 0…1."""
    c = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1.0 / 2.4) - 0.055)


def expand_highlights(linear: np.ndarray, stops: float) -> np.ndarray:
    """The module docstring's curve: brightest regions up to 2^stops brighter; stops = 0 is the identity."""
    if not 0.0 <= stops <= MAX_HIGHLIGHT_STOPS:
        raise ValueError(
            f"highlight expansion must be between 0 and {MAX_HIGHLIGHT_STOPS} stops (got {stops})"
        )
    linear = np.asarray(linear, dtype=np.float64)
    if stops == 0:
        return linear
    luminance = linear @ _LUMA
    w = np.clip((luminance - HIGHLIGHT_KNEE) / (1.0 - HIGHLIGHT_KNEE), 0.0, 1.0)
    return linear * np.exp2(stops * w * w)[..., None]


def to_linear(pixels: np.ndarray, highlight_stops: float = 0.0) -> np.ndarray:
    """8-bit sRGB (H, W, 3) → linear float64, with optional highlight expansion."""
    array = np.asarray(pixels)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {array.shape} {array.dtype}")
    return expand_highlights(srgb_to_linear(array), highlight_stops)


def save_exr(linear: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write linear RGB as a half-float, ZIP-compressed scanline OpenEXR with Rec.709 chromaticities."""
    try:
        import OpenEXR
    except ImportError as e:
        raise ExrUnavailableError(
            "EXR export needs the OpenEXR library: install it with `pip install openexr`."
        ) from e
    rgb = np.asarray(linear, dtype=np.float64)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {rgb.shape}")
    half_max = float(np.finfo(np.float16).max)
    pixels = np.ascontiguousarray(np.clip(rgb, 0.0, half_max).astype(np.float16))
    header = {
        "compression": OpenEXR.ZIP_COMPRESSION,
        "type": OpenEXR.scanlineimage,
        "chromaticities": REC709_CHROMATICITIES,
    }

    def write(temp: Path) -> None:
        with OpenEXR.File(header, {"RGB": pixels}) as exr:
            try:
                exr.write(str(temp))
            except RuntimeError as e:
                # OpenEXR reports a failed write as a RuntimeError with the C library's words; give the
                # file-system error back so a full disk is one (exit 6), not an unexpected failure.
                found = _exr_write_error(e, temp)
                if found is None:
                    raise
                raise found from e

    return write_atomic(path, write)


def _exr_write_error(error: RuntimeError, temp: Path) -> OSError | None:
    text = str(error)
    for code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EACCES, errno.EROFS, errno.EIO):
        if os.strerror(code) in text:
            return OSError(code, os.strerror(code), str(temp))
    return None


def encode_rgbe(linear: np.ndarray) -> np.ndarray:
    """Radiance RGBE bytes (H, W, 4) of linear RGB: a shared exponent from the largest channel.

    As in Greg Ward's reference (``float2rgbe`` in rgbe.c): v = max(R, G, B); with v = m · 2^e, m in
    [0.5, 1), each mantissa byte is ⌊channel · 256 · m / v⌋ and the fourth byte is e + 128; v < 1e-32 is 0.
    """
    rgb = np.clip(np.asarray(linear, dtype=np.float64), 0.0, None)
    brightest = rgb.max(axis=-1)
    mantissa, exponent = np.frexp(brightest)
    dark = brightest < 1e-32
    scale = np.where(dark, 0.0, mantissa * 256.0 / np.where(dark, 1.0, brightest))
    out = np.empty((*rgb.shape[:-1], 4), dtype=np.uint8)
    out[..., :3] = np.floor(rgb * scale[..., None]).clip(0, 255).astype(np.uint8)
    out[..., 3] = np.where(dark, 0, exponent + 128).clip(0, 255).astype(np.uint8)
    return out


def save_hdr(linear: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write a Radiance .hdr: the standard header and flat (uncompressed) RGBE scanlines, top row first.

    Flat scanlines are part of the format (a reader treats a scanline that does not begin 2, 2 as flat),
    and every reader we know accepts them; the run-length form only makes the file smaller.
    """
    rgb = np.asarray(linear)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {rgb.shape}")
    height, width = rgb.shape[:2]
    header = f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\nEXPOSURE=1.0\n\n-Y {height} +X {width}\n".encode("ascii")
    return write_atomic(path, header + encode_rgbe(rgb).tobytes())
