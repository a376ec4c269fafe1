"""The 3D frame of the exports (GLB, point and splat PLY): glTF's, right-handed, +Y up, metres.

The panorama's own frame (``projection.py``) is left-handed: +X right, +Y up, +Z forward at yaw 0. The
exports flip Z, so that yaw 0 (the panorama's centre column) looks down −Z, the direction a glTF camera
looks by default, with +X still on the right: (x, y, z)_export = (x, y, −z)_panorama.

Scale: a metric distance map is in metres already; a relative one is scaled so that its median distance
is ``RELATIVE_MEDIAN_METRES`` (a room-sized scene in Blender, Unreal and splat viewers).
"""

from __future__ import annotations

import numpy as np

__all__ = ["RELATIVE_MEDIAN_METRES", "export_directions", "scene_scale", "stride_grid"]

RELATIVE_MEDIAN_METRES = 3.0


def scene_scale(distance: np.ndarray, metric: bool) -> float:
    """The factor that takes the map to metres."""
    return 1.0 if metric else RELATIVE_MEDIAN_METRES / float(np.median(distance))


def stride_grid(width: int, height: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Column and row indices of every ``stride``-th pixel (centres of the kept pixels)."""
    if stride < 1:
        raise ValueError(f"the stride must be 1 or more (got {stride})")
    return np.arange(stride // 2, width, stride), np.arange(stride // 2, height, stride)


def export_directions(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Unit directions (…, 3) in the export frame for equirect coordinates u, v in [0, 1], float32."""
    yaw = ((np.asarray(u, dtype=np.float64) - 0.5) * (2.0 * np.pi)).astype(np.float32)
    pitch = ((0.5 - np.asarray(v, dtype=np.float64)) * np.pi).astype(np.float32)
    yaw, pitch = np.broadcast_arrays(yaw, pitch)
    cos_pitch = np.cos(pitch)
    return np.stack([cos_pitch * np.sin(yaw), np.sin(pitch), -cos_pitch * np.cos(yaw)], axis=-1)
