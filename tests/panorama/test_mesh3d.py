"""The GLB mesh: Khronos-valid, read back by trimesh, seam and poles closed, faces towards the centre."""

from __future__ import annotations

import errno
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import trimesh

from dit360_desktop.panorama.mesh3d import CUT_SLOPE, build_mesh, write_glb
from dit360_desktop.panorama.space3d import RELATIVE_MEDIAN_METRES, export_directions
from tests.core.depth.synthetic_room import room_panorama

TOOLS = Path(__file__).resolve().parents[1] / "tools"
VALIDATOR = TOOLS / "node_modules" / "gltf-validator"


def _room(width: int = 128, height: int = 64):
    return room_panorama(width, height)


def _validate(path: Path) -> dict:
    if shutil.which("node") is None or not VALIDATOR.is_dir():
        pytest.skip("the Khronos glTF validator is not installed: npm install --prefix tests/tools")
    done = subprocess.run(
        ["node", str(TOOLS / "validate_gltf.js"), str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_glb_passes_the_khronos_validator_with_no_issue(tmp_path: Path) -> None:
    rgb, distance = _room()
    summary = write_glb(tmp_path / "room.glb", rgb, distance, metric=True, stride=2)
    report = _validate(tmp_path / "room.glb")
    issues = report["issues"]
    assert (issues["numErrors"], issues["numWarnings"]) == (0, 0), issues["messages"]
    info = report["info"]
    assert info["totalTriangleCount"] == summary.faces and info["totalVertexCount"] == summary.vertices
    assert info["hasTextures"] is True


def test_trimesh_reads_the_mesh_textured_in_metres_with_y_up(tmp_path: Path) -> None:
    rgb, distance = _room()
    write_glb(
        tmp_path / "room.glb", rgb, distance, metric=True, stride=2, cut_edges=False, texture_format="png"
    )
    scene = trimesh.load(tmp_path / "room.glb")
    mesh = next(iter(scene.geometry.values()))
    assert mesh.visual.uv.shape == (mesh.vertices.shape[0], 2)
    texture = np.asarray(mesh.visual.material.baseColorTexture.convert("RGB"))
    assert texture.shape == rgb.shape
    np.testing.assert_array_equal(texture, rgb)
    # The room's walls in metres: ceiling at +1.1 m (+Y up), floor at −1.6 m; yaw 0 (the panorama's +Z
    # forward wall at 2.7 m) is −Z in glTF and the −Z wall at 3.1 m is +Z.
    bounds = mesh.bounds
    np.testing.assert_allclose(bounds[:, 1], [-1.6, 1.1], atol=0.02)
    np.testing.assert_allclose(bounds[:, 2], [-2.7, 3.1], atol=0.02)
    np.testing.assert_allclose(bounds[:, 0], [-2.3, 3.4], atol=0.02)


def test_seam_is_shared_in_position_and_split_in_uv_and_faces_look_at_the_centre() -> None:
    _rgb, distance = _room()
    mesh = build_mesh(distance, metric=True, stride=4, cut_edges=False)
    columns, rows = mesh.summary.columns, mesh.summary.rows
    ring = mesh.positions[: (rows - 1) * (columns + 1)].reshape(rows - 1, columns + 1, 3)
    np.testing.assert_array_equal(ring[:, 0], ring[:, -1])
    uvs = mesh.uvs[: (rows - 1) * (columns + 1)].reshape(rows - 1, columns + 1, 2)
    assert np.all(uvs[:, 0, 0] == 0.0) and np.all(uvs[:, -1, 0] == 1.0)
    # Pole fans: one position per pole.
    poles = mesh.positions[(rows - 1) * (columns + 1) :]
    assert len({tuple(p) for p in poles[:columns]}) == 1 and len({tuple(p) for p in poles[columns:]}) == 1
    corners = mesh.positions[mesh.indices]
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    centroid = corners.mean(axis=1)
    facing = np.einsum("ij,ij->i", normal, centroid)
    area = np.linalg.norm(normal, axis=1)
    assert np.all(facing[area > 1e-9] < 0)  # counter-clockwise seen from the origin
    # Closed: every edge is shared by exactly two triangles once the seam and pole copies are merged.
    closed = trimesh.Trimesh(mesh.positions, mesh.indices, process=True)
    assert closed.is_watertight


def test_relative_depth_is_scaled_to_a_three_metre_median() -> None:
    distance = np.full((32, 64), 0.25, np.float32)
    mesh = build_mesh(distance, metric=False, stride=1)
    np.testing.assert_allclose(np.linalg.norm(mesh.positions, axis=1), RELATIVE_MEDIAN_METRES, rtol=1e-5)


def test_triangles_across_a_depth_edge_are_cut() -> None:
    distance = np.full((64, 128), 3.0, np.float32)
    distance[20:40, 50:70] = 1.0  # a box in front of the wall
    kept = build_mesh(distance, metric=True, stride=1, cut_edges=False)
    cut = build_mesh(distance, metric=True, stride=1, cut_edges=True)
    assert cut.summary.cut_faces > 0
    assert cut.summary.faces == kept.summary.faces - cut.summary.cut_faces

    def worst(mesh) -> float:
        corners = np.linalg.norm(mesh.positions[mesh.indices], axis=-1)
        return float((corners.max(axis=1) / corners.min(axis=1)).max())

    assert worst(kept) >= 1.9  # the uncut mesh stretches from the box to the wall
    assert worst(cut) <= 1.0 + CUT_SLOPE * 2.0 * np.pi / 128 + 1e-6
    # A smooth surface loses nothing.
    assert build_mesh(np.full((64, 128), 3.0, np.float32), metric=True, stride=1).summary.cut_faces == 0


def test_max_faces_coarsens_the_grid() -> None:
    _rgb, distance = _room()
    mesh = build_mesh(distance, metric=True, stride=1, max_faces=2000, cut_edges=False)
    assert mesh.summary.faces <= 2000 and mesh.summary.columns == 2 * mesh.summary.rows


def test_glb_header_and_chunks(tmp_path: Path) -> None:
    rgb, distance = _room(64, 32)
    write_glb(tmp_path / "a.glb", rgb, distance, metric=True, texture_format="png")
    data = (tmp_path / "a.glb").read_bytes()
    magic, version, length = struct.unpack("<III", data[:12])
    assert (magic, version, length) == (0x46546C67, 2, len(data))
    json_length, kind = struct.unpack("<II", data[12:20])
    assert kind == 0x4E4F534A and json_length % 4 == 0
    document = json.loads(data[20 : 20 + json_length])
    assert document["images"][0]["mimeType"] == "image/png"


def test_a_full_disk_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rgb, distance = _room(64, 32)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as caught:
        write_glb(tmp_path / "a.glb", rgb, distance, metric=True)
    assert caught.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_export_frame_is_right_handed_with_yaw_zero_down_minus_z() -> None:
    forward = export_directions(0.5, 0.5)
    right = export_directions(0.75, 0.5)
    up = export_directions(0.5, 0.0)
    np.testing.assert_allclose(forward, [0, 0, -1], atol=1e-6)
    np.testing.assert_allclose(right, [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(up, [0, 1, 0], atol=1e-6)
    # Right-handed: right × up = backwards (+Z), i.e. −forward.
    np.testing.assert_allclose(np.cross(right, up), -forward, atol=1e-6)
