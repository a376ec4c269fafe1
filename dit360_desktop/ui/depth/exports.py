"""The Depth & 3D panel's exports: the distance map (EXR, 16-bit PNG), the textured mesh (GLB), the point
cloud and Gaussian splats (PLY) and top/bottom stereo (PNG), written by the torch-free writers the CLI uses
(``panorama/depthmap.py``, ``mesh3d.py``, ``pointcloud.py``, ``stereo.py``), each file atomically."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

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


def write_export(
    export: Export, rgb: np.ndarray, distance: np.ndarray, should_stop: Callable[[], None] = lambda: None
) -> Path:
    from dit360_desktop.panorama import depthmap

    kind, path = export.kind, export.path
    if kind == "depth-exr":
        return depthmap.save_distance_exr(distance, path)
    if kind == "depth-png":
        return depthmap.save_distance_png(distance, path)
    if kind == "glb":
        from dit360_desktop.panorama.mesh3d import write_glb

        write_glb(path, rgb, distance, metric=export.metric, stride=export.stride)
        return path
    if kind == "points":
        from dit360_desktop.panorama.pointcloud import write_point_ply

        return write_point_ply(path, rgb, distance, metric=export.metric, stride=export.stride)
    if kind == "splats":
        from dit360_desktop.panorama.pointcloud import write_splat_ply

        return write_splat_ply(path, rgb, distance, metric=export.metric, stride=export.stride)
    if kind == "stereo":
        return _write_stereo(export, rgb, distance, should_stop)
    raise ValueError(f"unknown export {kind!r}")


def stereo_pair_image(rgb: np.ndarray, distance: np.ndarray, ipd: float, metric: bool) -> np.ndarray:
    """Top/bottom RGBA (left eye on top), disocclusions transparent; a relative map is taken at a 3 m
    median (the mesh's scale), so the eye distance is in metres either way."""
    from dit360_desktop.panorama.depthmap import resample_distance
    from dit360_desktop.panorama.stereo import ods_pair, top_bottom

    height, width = rgb.shape[:2]
    if distance.shape != (height, width):
        distance = resample_distance(distance, width, height)
    from dit360_desktop.panorama.errors import RequestError

    metres = distance * scene_scale(distance, metric)
    try:
        return top_bottom(ods_pair(np.ascontiguousarray(rgb[..., :3]), metres, ipd), holes_transparent=True)
    except ValueError as e:  # the eye distance does not fit this depth: the person's choice, in words
        raise RequestError("ipd", str(e)) from e


def _write_stereo(
    export: Export, rgb: np.ndarray, distance: np.ndarray, should_stop: Callable[[], None]
) -> Path:
    import io
    import json

    from PIL import PngImagePlugin

    from dit360_desktop.panorama.fileio import write_atomic
    from dit360_desktop.panorama.imageio import PNG_JSON_KEY

    pixels = stereo_pair_image(rgb, distance, export.ipd, export.metric)
    should_stop()
    record = {"stereo": {"layout": "top-bottom", "left_eye": "top", "ipd_m": export.ipd, "fill": "none"}}
    info = PngImagePlugin.PngInfo()
    info.add_itxt(PNG_JSON_KEY, json.dumps(record), zip=True)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG", pnginfo=info)  # alpha 0 = a hole
    return write_atomic(export.path, buffer.getvalue())
