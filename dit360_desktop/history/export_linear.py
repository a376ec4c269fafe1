"""The linear-light exports of ``export.py``: ``exr`` and ``hdr`` equirects, and cube faces or a cross as
EXR (``face_format="exr"``). The colour maths and the writers are in ``panorama/hdr.py``.

The panorama is converted to linear light first and projected afterwards, so the cube faces' bilinear
filtering mixes light, not sRGB code values. Nothing is written until every face is computed, and faces
written before a failure are removed again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np

from dit360_desktop.panorama import fileio, hdr, projection

log = logging.getLogger(__name__)

LINEAR_FORMATS = ("exr", "hdr")
CUBE_FORMATS = ("cubemap", "cubemap-cross")


class LinearExportOptions(Protocol):
    """What a linear export reads of ``export.ExportOptions`` (named here: export.py imports this module)."""

    @property
    def format(self) -> str: ...
    @property
    def face_format(self) -> str: ...
    @property
    def face_size(self) -> int | None: ...
    @property
    def highlight_stops(self) -> float: ...


def is_cube_face(name: str) -> bool:
    """A face file of any cubemap export, PNG, JPEG or EXR (``px.png``, ``nz.exr``, …): the faces of an
    older export are replaced as a set, never mixed with the new ones (``export.py`` uses it too)."""
    stem, _, suffix = name.partition(".")
    return stem in projection.FACE_NAMES and suffix.lower() in ("png", "jpg", "jpeg", "exr")


def is_linear_export(options: LinearExportOptions) -> bool:
    return options.format in LINEAR_FORMATS or (
        options.format in CUBE_FORMATS and options.face_format == "exr"
    )


def export_linear(pixels: np.ndarray, out: Path, options: LinearExportOptions) -> list[Path]:
    """Write ``pixels`` (8-bit sRGB equirect) as the linear export ``options`` asks for."""
    linear = hdr.to_linear(pixels, options.highlight_stops).astype(np.float32)
    if options.format == "exr":
        return [hdr.save_exr(linear, out)]
    if options.format == "hdr":
        return [hdr.save_hdr(linear, out)]
    face_size = options.face_size or max(16, pixels.shape[1] // 4)
    faces = projection.equirect_to_cubemap(linear, face_size)
    if options.format == "cubemap-cross":
        return [hdr.save_exr(projection.cubemap_cross(faces), out)]
    # All or nothing, as the PNG faces: staged in a temp folder next to ``out`` and renamed into place.
    writers = {
        f"{name}.exr": lambda path, face=faces[name]: hdr.save_exr(face, path)
        for name in projection.FACE_NAMES
    }
    return fileio.write_folder_atomic(out, writers, replaces=is_cube_face)
