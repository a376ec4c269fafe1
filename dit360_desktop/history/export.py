"""Getting a panorama out of the app, in the shapes 360° viewers and game engines read.

- ``jpeg-gpano``: the equirect image as JPEG with GPano XMP (Google Photos, Facebook, Kuula show it as 360°).
- ``png``: the equirect image as PNG with our parameters and GPano XMP.
- ``cubemap``: six square faces ``px nx py ny pz nz`` in the OpenGL/three.js order and orientation
  (``panorama/projection.py`` documents it); bilinear, seamless between faces.
- ``cubemap-cross``: the six faces in one 4×3 horizontal cross, the layout Unity's importer detects.
- ``perspective``: one pinhole view (yaw, pitch, horizontal FOV, size), the maths of the viewer's snapshot.
- ``exr`` / ``hdr``: the equirect in linear light for 3D tools (half-float OpenEXR, Radiance RGBE); cube
  faces and the cross are written as EXR with ``face_format="exr"`` (``export_linear.py``).

"Strip metadata" drops the prompt and every generation parameter; the GPano marker stays on equirect
exports because it says only "this is a 360° image" and the viewers need it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dit360_desktop.history.entry import Entry
from dit360_desktop.history.errors import ExportDiskFullError, ExportError, ExportTargetError
from dit360_desktop.history.export_linear import export_linear, is_cube_face, is_linear_export
from dit360_desktop.panorama import fileio, hdr, imageio, limits, projection
from dit360_desktop.panorama.errors import ImageLoadError, RequestError

log = logging.getLogger(__name__)

EXPORT_FORMATS = ("jpeg-gpano", "png", "cubemap", "cubemap-cross", "perspective", "exr", "hdr")
FACE_FORMATS = ("png", "jpeg", "exr")
FACE_SUFFIXES = {"png": ".png", "jpeg": ".jpg", "exr": ".exr"}
# The same limits as the command line's options and the app's fields (panorama/limits.py).
MAX_FACE_SIZE = int(limits.LIMITS["face_size"].high)
MAX_VIEW_SIDE = int(limits.LIMITS["view_side"].high)


@dataclass(frozen=True)
class ExportOptions:
    format: str
    quality: int = 92
    strip_metadata: bool = False
    # Cube face edge in pixels; None = a quarter of the panorama's width (the equator's own resolution).
    face_size: int | None = None
    face_format: str = "png"
    yaw: float = 0.0
    pitch: float = 0.0
    fov: float = 90.0
    size: tuple[int, int] = (1920, 1080)
    # exr, hdr and EXR faces: inverse tone mapping of the brightest regions, in stops (panorama/hdr.py).
    highlight_stops: float = 0.0

    def validate(self) -> None:
        if self.format not in EXPORT_FORMATS:
            raise RequestError("format", f"must be one of {', '.join(EXPORT_FORMATS)} (got {self.format!r})")
        if (
            isinstance(self.quality, bool)
            or not isinstance(self.quality, int)
            or not 1 <= self.quality <= 100
        ):
            raise RequestError("quality", f"must be an integer from 1 to 100 (got {self.quality!r})")
        if self.face_size is not None and not 16 <= self.face_size <= MAX_FACE_SIZE:
            raise RequestError("face_size", f"must be between 16 and {MAX_FACE_SIZE} (got {self.face_size})")
        if self.face_format not in FACE_FORMATS:
            raise RequestError("face_format", f"must be png, jpeg or exr (got {self.face_format!r})")
        if not 0.0 <= self.highlight_stops <= hdr.MAX_HIGHLIGHT_STOPS:
            raise RequestError(
                "highlight_stops",
                f"must be between 0 and {hdr.MAX_HIGHLIGHT_STOPS:g} (got {self.highlight_stops})",
            )
        for name, limit in (("yaw", "yaw"), ("pitch", "pitch"), ("fov", "view_fov")):
            problem = limits.LIMITS[limit].problem(getattr(self, name))
            if problem is not None:
                raise RequestError(name, f"{problem} (got {getattr(self, name)!r})")
        width, height = self.size
        if not (1 <= width <= MAX_VIEW_SIDE and 1 <= height <= MAX_VIEW_SIDE):
            raise RequestError(
                "size", f"each side must be between 1 and {MAX_VIEW_SIDE} (got {width}×{height})"
            )


def export_entry(entry: Entry, out: Path, options: ExportOptions) -> list[Path]:
    """Export a library entry; returns the files written."""
    if entry.missing or not entry.path.is_file():
        raise ExportError(f"The image of entry {entry.id} is missing ({entry.path}); it cannot be exported.")
    try:
        with Image.open(entry.path) as opened:
            image = opened.convert("RGB")
        metadata = imageio.read_metadata(entry.path).dit360
    except (OSError, ImageLoadError) as e:
        raise ExportError(f"The image {entry.path} could not be read for export: {e}") from e
    return export_image(image, metadata or entry.metadata or None, out, options)


def export_image(
    image: Image.Image, metadata: dict[str, Any] | None, out: Path, options: ExportOptions
) -> list[Path]:
    """Export ``image`` (an equirect panorama) to ``out``: a file, or for ``cubemap`` a folder."""
    options.validate()
    image = image if image.mode == "RGB" else image.convert("RGB")
    _check_memory(options, image.width)
    meta = None if options.strip_metadata else metadata
    out = Path(out)
    try:
        # Every kind creates a missing folder alike (a fresh account has no ~/Pictures yet).
        out.parent.mkdir(parents=True, exist_ok=True)
        if options.format == "jpeg-gpano":
            return [imageio.save_jpeg(image, out, meta, quality=options.quality, gpano=True)]
        if options.format == "png":
            return [imageio.save_png(image, out, meta, gpano=True)]
        pixels = np.asarray(image)
        if is_linear_export(options):
            return export_linear(pixels, out, options)
        if options.format == "perspective":
            width, height = options.size
            view = projection.equirect_to_perspective(
                pixels, options.yaw, options.pitch, options.fov, width, height
            )
            return [_save_view(view, out, meta, options)]
        face_size = options.face_size or max(16, image.width // 4)
        faces = projection.equirect_to_cubemap(pixels, face_size)
        if options.format == "cubemap-cross":
            return [_save_view(projection.cubemap_cross(faces), out, meta, options)]
        suffix = FACE_SUFFIXES[options.face_format]
        # All or nothing: a full disk after two of six faces must not leave those two behind.
        writers = {
            f"{name}{suffix}": lambda path, face=faces[name]: _save_view(face, path, meta, options)
            for name in projection.FACE_NAMES
        }
        return fileio.write_folder_atomic(out, writers, replaces=is_cube_face)
    except OSError as e:
        if fileio.is_disk_full(e):
            raise ExportDiskFullError(
                f"The export to {out} failed: the disk is full. Free some space and retry."
            ) from e
        if fileio.is_bad_target(e):
            raise ExportTargetError(f"Cannot export to {out}: {fileio.target_problem(e)}.") from e
        raise ExportError(f"The export to {out} failed: {e.strerror or e}.") from e
    except ValueError as e:
        # imageio refuses metadata too large for a JPEG XMP segment; the message says to strip it.
        raise ExportError(f"The export to {out} failed: {e}.") from e


def _check_memory(options: ExportOptions, panorama_width: int) -> None:
    """Refuse, before projecting, a view or a set of faces that cannot fit in this machine's memory."""
    if options.format == "perspective":
        width, height = options.size
        limits.check_fits_in_memory(
            "size",
            f"a {width}×{height} view",
            width * height,
            limits.BYTES_PER_PROJECTED_PIXEL,
            "Choose a smaller size.",
            overhead=limits.PROJECTION_OVERHEAD_BYTES,
        )
    elif options.format in ("cubemap", "cubemap-cross"):
        face = options.face_size or max(16, panorama_width // 4)
        limits.check_fits_in_memory(
            "face_size",
            f"six {face}×{face} cube faces",
            6 * face * face,
            limits.BYTES_PER_PROJECTED_PIXEL,
            "Choose a smaller face size.",
            overhead=limits.PROJECTION_OVERHEAD_BYTES,
        )


def _save_view(
    pixels: np.ndarray, path: Path, metadata: dict[str, Any] | None, options: ExportOptions
) -> Path:
    """Write a derived (non-equirect) image: no GPano, since it is not a 360° panorama itself."""
    image = Image.fromarray(np.ascontiguousarray(pixels), "RGB")
    if path.suffix.lower() in (".jpg", ".jpeg"):
        return imageio.save_jpeg(image, path, metadata, quality=options.quality, gpano=False)
    if path.suffix.lower() == ".webp":
        return imageio.save_webp(image, path, metadata, quality=options.quality)
    return imageio.save_png(image, path, metadata, gpano=False)


def existing_outputs(out: Path, options: ExportOptions) -> list[Path]:
    """The files an export to ``out`` would replace (the app asks before overwriting them)."""
    out = Path(out)
    if options.format == "cubemap":
        if not out.is_dir():
            return [out] if out.exists() else []
        faces = [out / f"{name}{FACE_SUFFIXES[options.face_format]}" for name in projection.FACE_NAMES]
        return [path for path in faces if path.exists()]
    return [out] if out.exists() else []


def default_file_name(entry: Entry, options: ExportOptions) -> str:
    """A name for the save dialog: the library file's stem plus what the export is."""
    stem = entry.path.stem
    if options.format == "jpeg-gpano":
        return f"{stem}-360.jpg"
    if options.format == "png":
        return f"{stem}.png"
    if options.format == "cubemap":
        return f"{stem}-cubemap"
    if options.format in ("exr", "hdr"):
        return f"{stem}.{options.format}"
    if options.format == "cubemap-cross":
        return f"{stem}-cross.exr" if options.face_format == "exr" else f"{stem}-cross.png"
    return f"{stem}-view-{options.yaw:+.0f}-{options.pitch:+.0f}.jpg"
