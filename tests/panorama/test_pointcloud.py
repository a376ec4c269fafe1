"""Point and Gaussian-splat PLY: the reference 3DGS layout read back by plyfile, geometry checked."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
import trimesh
from plyfile import PlyData

from dit360_desktop.panorama.pointcloud import (
    SH_C0,
    SPLAT_FIELDS,
    SPLAT_OPACITY,
    write_point_ply,
    write_splat_ply,
)
from dit360_desktop.panorama.space3d import export_directions
from tests.core.depth.synthetic_room import room_panorama

# The reference's construct_list_of_attributes with SH degree 0 (no f_rest_*).
REFERENCE_LAYOUT = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2", "opacity"]
REFERENCE_LAYOUT += ["scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]


def _rotation(q: np.ndarray) -> np.ndarray:
    """(n, 3, 3) matrices of (w, x, y, z) quaternions, as the reference's build_rotation does."""
    w, x, y, z = (q[:, i] for i in range(4))
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=1,
    )


def test_splat_ply_has_the_reference_layout_and_exact_values(tmp_path: Path) -> None:
    rgb, distance = room_panorama(64, 32)
    write_splat_ply(tmp_path / "s.ply", rgb, distance, metric=True)
    ply = PlyData.read(str(tmp_path / "s.ply"))
    assert ply.elements[0].name == "vertex" and ply.elements[0].count == 64 * 32
    data = ply["vertex"].data
    assert list(data.dtype.names) == REFERENCE_LAYOUT == list(SPLAT_FIELDS)
    assert all(data.dtype[name] == np.dtype("<f4") for name in REFERENCE_LAYOUT)
    assert ply.text is False and ply.byte_order == "<"
    xyz = np.stack([data["x"], data["y"], data["z"]], -1)
    u = (np.arange(64) + 0.5) / 64
    v = (np.arange(32) + 0.5) / 32
    directions = export_directions(u[None, :], v[:, None]).reshape(-1, 3)
    np.testing.assert_allclose(xyz, directions * distance.reshape(-1, 1), rtol=1e-5, atol=1e-5)
    colour = np.stack([data[f"f_dc_{i}"] for i in range(3)], -1) * SH_C0 + 0.5
    np.testing.assert_allclose(colour * 255, rgb.reshape(-1, 3), atol=1e-3)
    np.testing.assert_allclose(1 / (1 + np.exp(-data["opacity"])), SPLAT_OPACITY, rtol=1e-6)
    # Oriented: the quaternion's local z axis points at the centre, local x is east (yaw grows).
    q = np.stack([data[f"rot_{i}"] for i in range(4)], -1)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, rtol=1e-5)
    rotation = _rotation(q.astype(np.float64))
    np.testing.assert_allclose(rotation[:, :, 2], -directions, atol=1e-5)
    east = export_directions(u[None, :] + 1e-4, v[:, None]).reshape(-1, 3) - directions
    assert np.all(np.einsum("ij,ij->i", rotation[:, :, 0], east) > 0)
    # Sized to the pixel: σ = half the footprint (east–west d·cos(pitch)·2π/W, north–south d·π/H).
    pitch = np.repeat((0.5 - v) * np.pi, 64)
    d = distance.reshape(-1)
    np.testing.assert_allclose(np.exp(data["scale_0"]), 0.5 * d * np.cos(pitch) * 2 * np.pi / 64, rtol=1e-4)
    np.testing.assert_allclose(np.exp(data["scale_1"]), 0.5 * d * np.pi / 32, rtol=1e-4)
    assert np.all(data["scale_2"] < np.minimum(data["scale_0"], data["scale_1"]))


def test_stride_keeps_every_nth_pixel(tmp_path: Path) -> None:
    rgb, distance = room_panorama(64, 32)
    write_splat_ply(tmp_path / "s.ply", rgb, distance, metric=True, stride=4)
    data = PlyData.read(str(tmp_path / "s.ply"))["vertex"].data
    assert data.size == 16 * 8
    colour = np.stack([data[f"f_dc_{i}"] for i in range(3)], -1) * SH_C0 + 0.5
    np.testing.assert_allclose(colour * 255, rgb[2::4, 2::4].reshape(-1, 3), atol=1e-3)


def test_point_ply_reads_back_in_trimesh_with_colours(tmp_path: Path) -> None:
    rgb, distance = room_panorama(64, 32)
    write_point_ply(tmp_path / "p.ply", rgb, distance, metric=False, stride=2)
    cloud = trimesh.load(tmp_path / "p.ply")
    assert cloud.vertices.shape == (32 * 16, 3)
    np.testing.assert_array_equal(np.asarray(cloud.colors)[:, :3], rgb[1::2, 1::2].reshape(-1, 3))
    # Relative depth: median distance 3 m.
    assert np.median(np.linalg.norm(cloud.vertices, axis=1)) == pytest.approx(3.0, rel=0.02)


def test_a_full_disk_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rgb, distance = room_panorama(64, 32)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    for writer in (write_splat_ply, write_point_ply):
        with pytest.raises(OSError):
            writer(tmp_path / "s.ply", rgb, distance, metric=True)
    assert list(tmp_path.iterdir()) == []
