"""Point clouds and Gaussian splats of a panorama and its distance map, as binary little-endian PLY.

One point (or splat) per pixel, or per ``stride``-th pixel in each direction, in the export frame of
``space3d.py`` (right-handed, +Y up, metres).

**Points:** ``x y z`` (float) and ``red green blue`` (uchar): what MeshLab, CloudCompare and Blender read.

**Splats:** the layout of the reference 3D Gaussian Splatting code (``save_ply`` in
graphdeco-inria/gaussian-splatting), which splat viewers read:
``x y z nx ny nz f_dc_0 f_dc_1 f_dc_2 opacity scale_0 scale_1 scale_2 rot_0 rot_1 rot_2 rot_3``, all float.
- colour: the SH degree-0 term, f_dc = (rgb − 0.5) / C0 with C0 = 0.28209479 (= 1/(2√π));
- opacity: stored as a logit (the reference applies a sigmoid on load); ``SPLAT_OPACITY``;
- scale: stored as a log (the reference applies exp); each splat is a flat disc facing the centre whose
  standard deviations are half its pixel's footprint at its distance: east–west d·cos(pitch)·Δyaw and
  north–south d·Δpitch (Δ = the angular size of one pixel times the stride), and ``FLAT_RATIO`` of the
  smaller one across;
- rotation: the unit quaternion (w, x, y, z) of the matrix whose columns are the splat's local axes
  (east, north, towards the centre), so its local z faces the viewer at the centre;
- nx ny nz: the facing direction (towards the centre); the reference writes zeros there and ignores it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dit360_desktop.panorama.depthmap import check_distance, resample_distance
from dit360_desktop.panorama.fileio import write_atomic_parts
from dit360_desktop.panorama.space3d import export_directions, scene_scale, stride_grid

__all__ = [
    "POINT_FIELDS",
    "SH_C0",
    "SPLAT_FIELDS",
    "SPLAT_OPACITY",
    "splat_records",
    "write_point_ply",
    "write_splat_ply",
]

# Writers report their progress as a fraction of the work (``on_progress``); an exception raised there
# (a cancel) leaves no file. The records are computed first (up to COMPUTED), then written in chunks.
Progress = Callable[[float], None]
COMPUTED = 0.3
SH_C0 = 0.28209479177387814
SPLAT_OPACITY = 0.99
FLAT_RATIO = 0.05
SPLAT_FIELDS = (
    "x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
    "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3",
)  # fmt: skip
POINT_FIELDS = ("x", "y", "z", "red", "green", "blue")


def _ply_header(count: int, properties: list[tuple[str, str]]) -> bytes:
    lines = ["ply", "format binary_little_endian 1.0", f"element vertex {count}"]
    lines += [f"property {kind} {name}" for name, kind in properties]
    lines.append("end_header")
    return ("\n".join(lines) + "\n").encode("ascii")


def _sample(rgb: np.ndarray, distance: np.ndarray, stride: int):
    """The kept pixels: their colours (n, 3) uint8, unit directions (n, 3), distances (n,), and pitch."""
    pixels = np.asarray(rgb)
    if pixels.ndim != 3 or pixels.shape[2] < 3 or pixels.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 panorama, got {pixels.shape} {pixels.dtype}")
    height, width = pixels.shape[:2]
    values = resample_distance(check_distance(distance), width, height)
    columns, rows = stride_grid(width, height, stride)
    u = (columns.astype(np.float64) + 0.5) / width
    v = (rows.astype(np.float64) + 0.5) / height
    directions = export_directions(u[None, :], v[:, None]).reshape(-1, 3)
    colours = pixels[np.ix_(rows, columns)][..., :3].reshape(-1, 3)
    kept = values[np.ix_(rows, columns)].reshape(-1)
    return colours, directions, kept, (width, height)


def write_point_ply(
    path: str | os.PathLike[str],
    rgb: np.ndarray,
    distance: np.ndarray,
    *,
    metric: bool,
    stride: int = 1,
    on_progress: Progress | None = None,
) -> Path:
    """Coloured points, one per kept pixel (module docstring), written atomically."""
    colours, directions, values, _size = _sample(rgb, distance, stride)
    scale = np.float32(scene_scale(values, metric))
    dtype = np.dtype([(n, "<f4") for n in POINT_FIELDS[:3]] + [(n, "u1") for n in POINT_FIELDS[3:]])
    records = np.empty(values.size, dtype=dtype)
    positions = directions * (values * scale)[:, None]
    for axis, name in enumerate("xyz"):
        records[name] = positions[:, axis]
    for channel, name in enumerate(("red", "green", "blue")):
        records[name] = colours[:, channel]
    header = _ply_header(
        values.size,
        [("x", "float"), ("y", "float"), ("z", "float")] + [(n, "uchar") for n in ("red", "green", "blue")],
    )
    return _write_records(path, header, records, on_progress)


def splat_records(rgb: np.ndarray, distance: np.ndarray, *, metric: bool, stride: int = 1) -> np.ndarray:
    """The splats as a structured array with ``SPLAT_FIELDS`` (float32), in the module docstring's layout.

    Everything but the distance and the colour depends on the row (pitch φ) or the column (yaw ψ) alone,
    so it is computed per row and per column and broadcast: the splat's axes (east, north, towards the
    centre) are R = R_y(−ψ)·R_x(φ) in the export frame (identity at yaw 0 on the horizon, where east is +X
    and the centre is +Z from the splat), whose quaternion is q_y(−ψ) ⊗ q_x(φ) =
    (cos(ψ/2)cos(φ/2), cos(ψ/2)sin(φ/2), −sin(ψ/2)cos(φ/2), sin(ψ/2)sin(φ/2)).
    """
    pixels = np.asarray(rgb)
    if pixels.ndim != 3 or pixels.shape[2] < 3 or pixels.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 panorama, got {pixels.shape} {pixels.dtype}")
    height, width = pixels.shape[:2]
    values = resample_distance(check_distance(distance), width, height)
    columns, rows = stride_grid(width, height, stride)
    yaw = (((columns + 0.5) / width - 0.5) * (2.0 * np.pi)).astype(np.float32)[None, :]
    pitch = ((0.5 - (rows + 0.5) / height) * np.pi).astype(np.float32)[:, None]
    metres = values[np.ix_(rows, columns)] * np.float32(scene_scale(values, metric))
    colours = pixels[np.ix_(rows, columns)]
    records = np.empty((rows.size, columns.size), dtype=np.dtype([(n, "<f4") for n in SPLAT_FIELDS]))
    cos_pitch, sin_pitch, sin_yaw, cos_yaw = np.cos(pitch), np.sin(pitch), np.sin(yaw), np.cos(yaw)
    # Export-frame direction (space3d.export_directions): (cos φ sin ψ, sin φ, −cos φ cos ψ).
    unit = (cos_pitch * sin_yaw, np.broadcast_to(sin_pitch, metres.shape), -cos_pitch * cos_yaw)
    for name, normal, component in zip("xyz", ("nx", "ny", "nz"), unit, strict=True):
        records[name] = component * metres
        records[normal] = -component
    for channel in range(3):
        records[f"f_dc_{channel}"] = (colours[..., channel] * np.float32(1 / 255.0) - 0.5) / np.float32(SH_C0)
    records["opacity"] = np.float32(np.log(SPLAT_OPACITY / (1.0 - SPLAT_OPACITY)))
    log_metres = np.log(metres * np.float32(0.5))
    east = np.log(cos_pitch * np.float32(2.0 * np.pi * stride / width))
    north = np.float32(np.log(np.pi * stride / height))
    records["scale_0"] = log_metres + east
    records["scale_1"] = log_metres + north
    records["scale_2"] = log_metres + np.minimum(east, north) + np.float32(np.log(FLAT_RATIO))
    half_yaw, half_pitch = yaw * np.float32(0.5), pitch * np.float32(0.5)
    records["rot_0"] = np.cos(half_yaw) * np.cos(half_pitch)
    records["rot_1"] = np.cos(half_yaw) * np.sin(half_pitch)
    records["rot_2"] = -np.sin(half_yaw) * np.cos(half_pitch)
    records["rot_3"] = np.sin(half_yaw) * np.sin(half_pitch)
    return records.reshape(-1)


def write_splat_ply(
    path: str | os.PathLike[str],
    rgb: np.ndarray,
    distance: np.ndarray,
    *,
    metric: bool,
    stride: int = 1,
    on_progress: Progress | None = None,
) -> Path:
    """Gaussian splats, one per kept pixel (module docstring), written atomically."""
    records = splat_records(rgb, distance, metric=metric, stride=stride)
    header = _ply_header(records.size, [(name, "float") for name in SPLAT_FIELDS])
    return _write_records(path, header, records, on_progress)


def _write_records(
    path: str | os.PathLike[str], header: bytes, records: np.ndarray, on_progress: Progress | None
) -> Path:
    if on_progress is not None:
        on_progress(COMPUTED)
    write_progress = None if on_progress is None else lambda f: on_progress(COMPUTED + (1 - COMPUTED) * f)
    data = np.ascontiguousarray(records).view(np.uint8).reshape(-1)
    return write_atomic_parts(path, [header, data], write_progress)
