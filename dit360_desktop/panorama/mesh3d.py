"""A textured mesh of a panorama displaced by its distance map, as one binary glTF 2.0 file (GLB).

Geometry (export frame of ``space3d.py``: right-handed, +Y up, metres): a latitude–longitude grid of
``columns`` × ``rows`` cells. Each vertex is its unit ray direction times the distance sampled there.
- Column ``columns`` repeats column 0 in position (the seam closes) and differs only in its texture
  coordinate (u = 1 instead of 0), as glTF needs for a texture that wraps.
- The poles are fans: the top and bottom rings meet one position per pole (the mean distance of the ring),
  with one pole vertex per cell so each fan triangle gets the u of its own cell.
- Triangles face the centre (counter-clockwise seen from the origin, glTF's front face).
- With ``cut_edges``, triangles across a depth discontinuity are left out: the ones whose largest and
  smallest distance differ by more than ``1 + CUT_SLOPE · Δ`` (Δ = the grid's angular step in radians),
  i.e. surfaces seen at more than about 83° from face on, the stretched "rubber sheet" that 3D-photo tools
  remove.
Texture: the panorama itself, embedded as JPEG (PNG with ``texture_format="png"``), u = yaw, v = pitch
(glTF's v runs down the image, as the panorama's rows do).

File layout (glTF 2.0 spec, "GLB File Format Specification"): 12-byte header, a JSON chunk padded with
spaces and a BIN chunk padded with zeros to 4 bytes; buffer views for positions (VEC3 float, with the
min/max the spec requires), texture coordinates (VEC2 float), indices (SCALAR uint32) and the image.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dit360_desktop.panorama.depthmap import check_distance, resample_distance
from dit360_desktop.panorama.fileio import write_atomic_parts
from dit360_desktop.panorama.space3d import export_directions, scene_scale

__all__ = ["CUT_SLOPE", "DEFAULT_MAX_FACES", "MeshSummary", "build_mesh", "encode_glb", "write_glb"]

CUT_SLOPE = 8.0
DEFAULT_MAX_FACES = 1_000_000
_GLB_MAGIC = 0x46546C67  # "glTF"
_CHUNK_JSON = 0x4E4F534A
_CHUNK_BIN = 0x004E4942
_FLOAT, _UINT32 = 5126, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


@dataclass(frozen=True)
class MeshSummary:
    vertices: int
    faces: int
    cut_faces: int
    columns: int
    rows: int


@dataclass(frozen=True)
class Mesh:
    positions: np.ndarray  # (n, 3) float32
    uvs: np.ndarray  # (n, 2) float32
    indices: np.ndarray  # (m, 3) uint32
    summary: MeshSummary


def grid_size(width: int, height: int, stride: int, max_faces: int) -> tuple[int, int]:
    """Cells across and down (2:1): one per ``stride`` pixels, or as many as ``max_faces`` allows.

    The grid has 2·columns·(rows − 1) triangles (two per cell, one per cell in the pole rings); with
    columns = 2·rows that is at most ``max_faces`` for rows ≤ (1 + √(1 + max_faces)) / 2."""
    if stride < 1:
        raise ValueError(f"the stride must be 1 or more (got {stride})")
    if max_faces < 8:
        raise ValueError(f"max faces must be at least 8 (got {max_faces})")
    budget_rows = int((1.0 + math.sqrt(1.0 + max_faces)) / 2.0)
    rows = max(2, min(height // stride, budget_rows))
    return 2 * rows, rows


def build_mesh(
    distance: np.ndarray,
    *,
    metric: bool,
    stride: int = 4,
    max_faces: int = DEFAULT_MAX_FACES,
    cut_edges: bool = True,
) -> Mesh:
    values = check_distance(distance)
    height, width = values.shape
    columns, rows = grid_size(width, height, stride, max_faces)
    metres = resample_distance(values, columns, rows) * np.float32(scene_scale(values, metric))
    # Ring r (1 … rows−1) lies between cell rows r−1 and r; its distance is the mean of the two.
    rings = 0.5 * (metres[:-1] + metres[1:])
    rings = 0.5 * (rings + np.roll(rings, 1, axis=1))  # vertex k sits between cell columns k−1 and k
    u = np.arange(columns + 1, dtype=np.float64) / columns
    v = np.arange(1, rows, dtype=np.float64) / rows
    ring_directions = export_directions(u[None, :], v[:, None])  # (rows−1, columns+1, 3)
    ring_distance = np.concatenate([rings, rings[:, :1]], axis=1)
    ring_positions = ring_directions * ring_distance[..., None]
    # Bit-identical across the seam (sin(±π) differ in the last bit): the same position, two UVs.
    ring_positions[:, -1] = ring_positions[:, 0]
    top = export_directions(0.5, 0.0) * float(metres[0].mean())
    bottom = export_directions(0.5, 1.0) * float(metres[-1].mean())
    cell_u = (np.arange(columns, dtype=np.float64) + 0.5) / columns
    positions = np.concatenate(
        [
            ring_positions.reshape(-1, 3),
            np.broadcast_to(top, (columns, 3)),
            np.broadcast_to(bottom, (columns, 3)),
        ]
    ).astype(np.float32)
    uu, vv = np.meshgrid(u, v)
    uvs = np.concatenate(
        [
            np.stack([uu, vv], axis=-1).reshape(-1, 2),
            np.stack([cell_u, np.zeros(columns)], axis=-1),
            np.stack([cell_u, np.ones(columns)], axis=-1),
        ]
    ).astype(np.float32)
    stride_row = columns + 1
    ring = np.arange(rows - 1)[:, None] * stride_row
    k = np.arange(columns)[None, :]
    a, b = ring[:-1] + k, ring[:-1] + k + 1  # upper ring, left and right
    c, d = ring[1:] + k, ring[1:] + k + 1  # lower ring
    # Seen from the centre, u grows to the right and v downwards; (a, c, b) and (b, c, d) then run
    # counter-clockwise, so their front faces look at the centre.
    quads = np.stack([np.stack([a, c, b], -1), np.stack([b, c, d], -1)], axis=2).reshape(-1, 3)
    top_index = (rows - 1) * stride_row + np.arange(columns)
    bottom_index = top_index + columns
    top_fan = np.stack([top_index, np.arange(columns), np.arange(columns) + 1], -1)
    last = (rows - 2) * stride_row
    bottom_fan = np.stack([bottom_index, last + np.arange(columns) + 1, last + np.arange(columns)], -1)
    faces = np.concatenate([top_fan, quads, bottom_fan]).astype(np.uint32)
    cut = 0
    if cut_edges:
        corner = np.linalg.norm(positions[faces], axis=-1)
        ratio = corner.max(axis=1) / np.maximum(corner.min(axis=1), 1e-12)
        step = max(2.0 * math.pi / columns, math.pi / rows)
        keep = ratio <= 1.0 + CUT_SLOPE * step
        cut = int((~keep).sum())
        faces = faces[keep]
    if faces.size == 0:
        raise ValueError("every triangle was cut as a depth edge; write the mesh with cut edges off")
    summary = MeshSummary(positions.shape[0], int(faces.shape[0]), cut, columns, rows)
    return Mesh(positions, uvs, faces, summary)


def _texture_bytes(rgb: np.ndarray, texture_format: str) -> tuple[bytes, str]:
    from PIL import Image

    image = Image.fromarray(np.asarray(rgb)[..., :3])
    buffer = io.BytesIO()
    if texture_format == "png":
        image.save(buffer, format="PNG")
        return buffer.getvalue(), "image/png"
    if texture_format != "jpeg":
        raise ValueError(f"the texture is written as jpeg or png (got {texture_format!r})")
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue(), "image/jpeg"


def _pad(data: bytes, fill: bytes) -> bytes:
    return data + fill * (-len(data) % 4)


def encode_glb(mesh: Mesh, rgb: np.ndarray, *, texture_format: str = "jpeg", name: str = "panorama") -> bytes:
    image, mime = _texture_bytes(rgb, texture_format)
    parts = [
        mesh.positions.astype("<f4").tobytes(),
        mesh.uvs.astype("<f4").tobytes(),
        mesh.indices.astype("<u4").tobytes(),
        image,
    ]
    views, offset, blob = [], 0, b""
    for index, part in enumerate(parts):
        view = {"buffer": 0, "byteOffset": offset, "byteLength": len(part)}
        if index < 2:
            view["target"] = _ARRAY_BUFFER
        elif index == 2:
            view["target"] = _ELEMENT_ARRAY_BUFFER
        views.append(view)
        padded = _pad(part, b"\x00")
        blob += padded
        offset += len(padded)
    document = {
        "asset": {"version": "2.0", "generator": "DiT360 Desktop"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": name}],
        "meshes": [
            {
                "name": name,
                "primitives": [
                    {"attributes": {"POSITION": 0, "TEXCOORD_0": 1}, "indices": 2, "material": 0, "mode": 4}
                ],
            }
        ],
        "materials": [
            {
                "name": f"{name} texture",
                "pbrMetallicRoughness": {
                    "baseColorTexture": {"index": 0},
                    "metallicFactor": 0.0,
                    "roughnessFactor": 1.0,
                },
                "extensions": {"KHR_materials_unlit": {}},
                "doubleSided": True,
            }
        ],
        "extensionsUsed": ["KHR_materials_unlit"],
        "textures": [{"sampler": 0, "source": 0}],
        # Repeat across u so the seam column samples both image edges; clamp in v at the poles.
        "samplers": [{"magFilter": 9729, "minFilter": 9987, "wrapS": 10497, "wrapT": 33071}],
        "images": [{"bufferView": 3, "mimeType": mime}],
        "buffers": [{"byteLength": len(blob)}],
        "bufferViews": views,
        "accessors": [
            {
                "bufferView": 0,
                "componentType": _FLOAT,
                "count": int(mesh.positions.shape[0]),
                "type": "VEC3",
                "min": [float(x) for x in mesh.positions.min(axis=0)],
                "max": [float(x) for x in mesh.positions.max(axis=0)],
            },
            {"bufferView": 1, "componentType": _FLOAT, "count": int(mesh.uvs.shape[0]), "type": "VEC2"},
            {"bufferView": 2, "componentType": _UINT32, "count": int(mesh.indices.size), "type": "SCALAR"},
        ],
    }
    text = _pad(json.dumps(document, separators=(",", ":")).encode("utf-8"), b" ")
    total = 12 + 8 + len(text) + 8 + len(blob)
    return b"".join(
        [
            struct.pack("<III", _GLB_MAGIC, 2, total),
            struct.pack("<II", len(text), _CHUNK_JSON),
            text,
            struct.pack("<II", len(blob), _CHUNK_BIN),
            blob,
        ]
    )


def write_glb(
    path: str | os.PathLike[str],
    rgb: np.ndarray,
    distance: np.ndarray,
    *,
    metric: bool,
    stride: int = 4,
    max_faces: int = DEFAULT_MAX_FACES,
    cut_edges: bool = True,
    texture_format: str = "jpeg",
    on_progress: Callable[[float], None] | None = None,
) -> MeshSummary:
    """Build the mesh (module docstring) and write it as a GLB, atomically. ``on_progress`` gets the
    fraction done after each step (mesh, encoding, each written chunk); an exception raised there (a
    cancel) leaves no file."""
    pixels = np.asarray(rgb)
    if pixels.ndim != 3 or pixels.shape[2] < 3 or pixels.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 panorama, got {pixels.shape} {pixels.dtype}")
    report = on_progress or (lambda _fraction: None)
    mesh = build_mesh(distance, metric=metric, stride=stride, max_faces=max_faces, cut_edges=cut_edges)
    report(0.5)
    data = encode_glb(mesh, pixels, texture_format=texture_format, name=Path(path).stem)
    report(0.7)
    write_atomic_parts(path, [data], lambda fraction: report(0.7 + 0.3 * fraction))
    return mesh.summary
