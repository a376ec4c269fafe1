"""The Depth & 3D panel's exports: the distance map (EXR, 16-bit PNG), the textured mesh (GLB), the point
cloud and Gaussian splats (PLY) and top/bottom stereo (PNG), written by the torch-free writers the CLI uses
(``panorama/depthmap.py``, ``mesh3d.py``, ``pointcloud.py``, ``stereo.py``), each file atomically."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from dit360_desktop.panorama.errors import DiT360Error, RequestError
from dit360_desktop.panorama.space3d import scene_scale


@dataclass(frozen=True)
class ExportKind:
    key: str
    label: str
    file_filter: str
    suffix: str


KINDS = {
    kind.key: kind
    for kind in (
        ExportKind("depth-exr", "Depth map (EXR)…", "OpenEXR (*.exr)", ".exr"),
        ExportKind("depth-png", "Depth map (16-bit PNG)…", "PNG (*.png)", ".png"),
        ExportKind("glb", "Mesh (GLB)…", "glTF binary (*.glb)", ".glb"),
        ExportKind("points", "Point cloud (PLY)…", "PLY (*.ply)", ".ply"),
        ExportKind("splats", "Gaussian splats (PLY)…", "PLY (*.ply)", ".ply"),
        ExportKind("stereo", "Stereo 360, top/bottom (PNG)…", "PNG (*.png)", ".png"),
    )
}
# The settings' last_folders key: one remembered folder for every Depth & 3D export.
FOLDER_KEY = "depth-3d"


@dataclass(frozen=True)
class Export:
    kind: str
    path: Path
    stride: int = 1
    ipd: float = 0.064
    metric: bool = False


def with_suffix(path: Path, kind: str) -> Path:
    """``path`` ending in the kind's extension (added when the name has another one or none)."""
    suffix = KINDS[kind].suffix
    return path if path.suffix.lower() == suffix else path.with_name(path.name + suffix)


# ``progress(fraction, what)``: called between an export's steps; raising there (a cancel) leaves no file.
Progress = Callable[[float, str], None]


def _no_progress(_fraction: float, _what: str) -> None:
    return None


def write_export(
    export: Export, rgb: np.ndarray, distance: np.ndarray, progress: Progress = _no_progress
) -> Path:
    """Write one export. The panel's bar is determinate: each writer reports its steps (the mesh, the
    encoding, every 8 MiB written; the records, then the chunks; each eye of the stereo pair)."""
    from dit360_desktop.panorama import depthmap

    kind, path = export.kind, export.path
    name = path.name
    try:
        if kind in ("depth-exr", "depth-png"):
            progress(0.0, f"Writing {name}…")
            written = (depthmap.save_distance_exr if kind == "depth-exr" else depthmap.save_distance_png)(
                distance, path
            )
            progress(1.0, f"Wrote {name}")
            return written
        if kind == "glb":
            from dit360_desktop.panorama.mesh3d import write_glb

            progress(0.0, f"Building the mesh for {name}…")
            write_glb(
                path,
                rgb,
                distance,
                metric=export.metric,
                stride=export.stride,
                on_progress=lambda f: progress(f, f"Writing {name}…"),
            )
            return path
        if kind in ("points", "splats"):
            from dit360_desktop.panorama.pointcloud import write_point_ply, write_splat_ply

            progress(0.0, f"Computing the {'splats' if kind == 'splats' else 'points'} for {name}…")
            writer = write_splat_ply if kind == "splats" else write_point_ply
            return writer(
                path,
                rgb,
                distance,
                metric=export.metric,
                stride=export.stride,
                on_progress=lambda f: progress(f, f"Writing {name}…"),
            )
        if kind == "stereo":
            return _write_stereo(export, rgb, distance, progress)
    except ValueError as e:
        if isinstance(e, DiT360Error):
            raise
        # The writers' checks of what the panel handed them (every triangle cut as a depth edge, a stride):
        # the person's choice of export and options, in words.
        raise RequestError(kind, str(e)) from e
    raise RequestError("export", f"unknown export {kind!r}")


def stereo_pair_image(
    rgb: np.ndarray, distance: np.ndarray, ipd: float, metric: bool, progress: Progress = _no_progress
) -> np.ndarray:
    """Top/bottom RGBA (left eye on top), disocclusions transparent; a relative map is taken at a 3 m
    median (the mesh's scale), so the eye distance is in metres either way."""
    from dit360_desktop.panorama.depthmap import resample_distance
    from dit360_desktop.panorama.stereo import StereoPair, ods_eye, top_bottom

    height, width = rgb.shape[:2]
    if distance.shape != (height, width):
        distance = resample_distance(distance, width, height)
    metres = distance * scene_scale(distance, metric)
    pixels = np.ascontiguousarray(rgb[..., :3])
    try:
        progress(0.0, "Left eye…")
        left, left_holes = ods_eye(pixels, metres, ipd, "left")
        progress(0.4, "Right eye…")
        right, right_holes = ods_eye(pixels, metres, ipd, "right")
    except ValueError as e:  # the eye distance does not fit this depth: the person's choice, in words
        raise RequestError("ipd", str(e)) from e
    return top_bottom(StereoPair(left, right, left_holes, right_holes), holes_transparent=True)


def _write_stereo(export: Export, rgb: np.ndarray, distance: np.ndarray, progress: Progress) -> Path:
    import io
    import json

    from PIL import PngImagePlugin

    from dit360_desktop.panorama.fileio import write_atomic_parts
    from dit360_desktop.panorama.imageio import PNG_JSON_KEY

    pixels = stereo_pair_image(rgb, distance, export.ipd, export.metric, progress)
    name = export.path.name
    progress(0.8, f"Encoding {name}…")
    record = {"stereo": {"layout": "top-bottom", "left_eye": "top", "ipd_m": export.ipd, "fill": "none"}}
    info = PngImagePlugin.PngInfo()
    info.add_itxt(PNG_JSON_KEY, json.dumps(record), zip=True)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG", pnginfo=info)  # alpha 0 = a hole
    progress(0.9, f"Writing {name}…")
    return write_atomic_parts(
        export.path, [buffer.getbuffer()], lambda f: progress(0.9 + 0.1 * f, f"Writing {name}…")
    )
