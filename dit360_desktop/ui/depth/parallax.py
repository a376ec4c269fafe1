"""The parallax preview's data: the mesh the GL viewer draws, the eye's limits, and the CPU fallback.

With OpenGL the viewer draws the GLB writer's own mesh (``panorama/mesh3d.build_mesh``, depth edges cut)
from the moved eye (``ui/viewer/gl_mesh.py``); ``build_preview_mesh`` makes it off the UI thread.

Without OpenGL (the viewer's CPU fallback, ``ui/viewer/unavailable.py``) ``moved_eye`` re-projects the
panorama instead and the viewer shows the result as its picture. Every pixel is a point of the displaced
sphere (its direction × its distance, in metres: a relative map at a 3 m median, as the GLB takes it).
Seen from the eye at ``eye``, each point lands in the direction of ``point − eye``; the points are drawn
far to near into an equirect of the panorama's size, so the nearest wins (a z-buffer by order). What no
point lands on is a hole (what the centre never saw, or a surface stretched by the move), drawn in
``HOLE_COLOUR``; each point covers 2×2 pixels under the exact ones, so a surface magnified by the move
leaves no cracks.

Axes as the viewer's camera (``ui/common/camera.py``): x right, y up, z forward at yaw 0; the centre
column is yaw 0 and yaw grows to the right.
"""

from __future__ import annotations

import math

import numpy as np

from dit360_desktop.panorama.depthmap import resample_distance
from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.mesh3d import DEFAULT_MAX_FACES, Mesh, build_mesh
from dit360_desktop.panorama.space3d import scene_scale

MAX_OFFSET_M = 0.5
HOLE_COLOUR = (255, 0, 255)  # as the GL preview's (gl_mesh.HOLE_COLOUR)
# The preview's texture: wider panoramas are shown from a copy this wide (the mesh has fewer cells anyway).
MAX_TEXTURE_WIDTH = 4096


def build_preview_mesh(
    rgb: np.ndarray, distance: np.ndarray, *, metric: bool, stride: int
) -> tuple[tuple[Mesh, np.ndarray], float, int]:
    """((the GLB's mesh at ``stride``, its texture), the nearest surface in metres, its triangles)."""
    try:
        mesh = build_mesh(distance, metric=metric, stride=stride, max_faces=DEFAULT_MAX_FACES, cut_edges=True)
    except ValueError as e:  # every triangle cut as a depth edge: this depth at this stride, in words
        raise RequestError("parallax preview", str(e)) from e
    texture = np.asarray(rgb)[..., :3]
    if texture.shape[1] > MAX_TEXTURE_WIDTH:
        from PIL import Image

        size = (MAX_TEXTURE_WIDTH, MAX_TEXTURE_WIDTH // 2)
        texture = np.asarray(Image.fromarray(texture).resize(size, Image.Resampling.LANCZOS))
    nearest = float(np.linalg.norm(mesh.positions, axis=1).min())
    return (mesh, np.ascontiguousarray(texture)), nearest, mesh.summary.faces


def _directions(width: int, height: int) -> np.ndarray:
    theta = ((np.arange(width) + 0.5) / width - 0.5) * 2.0 * math.pi
    phi = (0.5 - (np.arange(height) + 0.5) / height) * math.pi
    theta, phi = np.meshgrid(theta, phi)
    return np.stack([np.sin(theta) * np.cos(phi), np.sin(phi), np.cos(theta) * np.cos(phi)], axis=-1)


def clamp_eye(eye: np.ndarray, nearest_m: float) -> np.ndarray:
    """``eye`` shortened to at most 0.5 m and to 90 % of the nearest surface (the eye stays inside)."""
    limit = min(MAX_OFFSET_M, 0.9 * nearest_m)
    length = float(np.linalg.norm(eye))
    return eye if length <= limit else eye * (limit / length)


def metres(distance: np.ndarray, metric: bool) -> np.ndarray:
    return np.asarray(distance, dtype=np.float64) * scene_scale(distance, metric)


def moved_eye(rgb: np.ndarray, distance_m: np.ndarray, eye: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 seen from ``eye`` (metres) and its (H, W) hole mask; ``distance_m`` in metres."""
    pixels = np.asarray(rgb)[..., :3]
    height, width = pixels.shape[:2]
    if distance_m.shape != (height, width):
        distance_m = resample_distance(distance_m, width, height).astype(np.float64)
    points = _directions(width, height) * distance_m[..., None] - np.asarray(eye, dtype=np.float64)
    reach = np.linalg.norm(points, axis=-1)
    theta = np.arctan2(points[..., 0], points[..., 2])
    phi = np.arcsin(np.clip(points[..., 1] / reach, -1.0, 1.0))
    u = np.rint((theta / (2.0 * math.pi) + 0.5) * width - 0.5).astype(np.int64) % width
    v = np.clip(np.rint((0.5 - phi / math.pi) * height - 0.5).astype(np.int64), 0, height - 1)
    order = np.argsort(-reach, axis=None, kind="stable")  # far first: the nearest point is drawn last
    u, v, colours = u.reshape(-1)[order], v.reshape(-1)[order], pixels.reshape(-1, 3)[order]
    out = np.empty((height * width, 3), dtype=np.uint8)
    out[:] = HOLE_COLOUR
    filled = np.zeros(height * width, dtype=bool)
    # First every point as a 2×2 block (a surface magnified by the move leaves no one-pixel cracks), then
    # every point as its own pixel on top, so an edge is as sharp as in the panorama.
    # (Within the blocks, a far point's block may cover a near one's where no exact point lands: a crack's
    # colour only.)
    for du, dv in ((1, 1), (1, 0), (0, 1), (0, 0)):
        target = np.minimum(v + dv, height - 1) * width + (u + du) % width
        out[target] = colours
        filled[target] = True
    return np.ascontiguousarray(out.reshape(height, width, 3)), ~filled.reshape(height, width)
