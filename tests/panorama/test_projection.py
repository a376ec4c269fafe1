"""Projection maths checked against an analytic panorama whose colour is a known function of direction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dit360_desktop.panorama import projection as proj

W, H = 1024, 512
# Bilinear interpolation of a function that is linear in the direction is exact up to the curvature of
# the equirect mapping over one pixel; at 1024×512 that is far below 0.5 % of the colour range.
TOLERANCE = 0.005


def direction_colour(directions: np.ndarray) -> np.ndarray:
    d = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
    return ((d + 1.0) / 2.0).astype(np.float32)


@pytest.fixture(scope="module")
def analytic() -> np.ndarray:
    # Built from the documented pixel→direction formula, written out here rather than taken from the module.
    u = (np.arange(W) + 0.5) / W
    v = (np.arange(H) + 0.5) / H
    yaw = (u[None, :] - 0.5) * 2 * math.pi
    pitch = (0.5 - v[:, None]) * math.pi
    d = np.stack(
        np.broadcast_arrays(np.cos(pitch) * np.sin(yaw), np.sin(pitch), np.cos(pitch) * np.cos(yaw)), axis=-1
    )
    return direction_colour(d)


def test_equirect_uv_conventions() -> None:
    cases = {
        (0.0, 0.0, 1.0): (0.5, 0.5),  # yaw 0 is the centre column
        (1.0, 0.0, 0.0): (0.75, 0.5),  # +X is yaw +90°, right of centre
        (-1.0, 0.0, 0.0): (0.25, 0.5),
        (0.0, 0.0, -1.0): (0.0, 0.5),  # the left/right edges meet behind
        (0.0, 1.0, 0.0): (0.5, 0.0),  # up is the top row
        (0.0, -1.0, 0.0): (0.5, 1.0),
    }
    for direction, (u_expected, v_expected) in cases.items():
        u, v = proj.direction_to_equirect_uv(np.array(direction))
        assert float(v) == pytest.approx(v_expected, abs=1e-12)
        if abs(direction[1]) < 1:
            assert float(u) == pytest.approx(u_expected, abs=1e-12)
    rng = np.random.default_rng(0)
    d = rng.normal(size=(500, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    u, v = proj.direction_to_equirect_uv(d)
    assert np.allclose(proj.equirect_uv_to_direction(u, v), d, atol=1e-12)


def test_equirect_directions_match_module_convention(analytic: np.ndarray) -> None:
    assert np.allclose(direction_colour(proj.equirect_directions(W, H)), analytic, atol=1e-6)


def test_cubemap_every_pixel_matches_its_direction(analytic: np.ndarray) -> None:
    size = 96
    faces = proj.equirect_to_cubemap(analytic, size)
    assert list(faces) == ["px", "nx", "py", "ny", "pz", "nz"]
    for name, face in faces.items():
        assert face.shape == (size, size, 3)
        expected = direction_colour(proj.cube_face_directions(name, size))
        assert np.abs(face - expected).max() < TOLERANCE, name


def _face_direction_by_hand(face: str, sc: float, tc: float) -> tuple[float, float, float]:
    # OpenGL 4.6 core spec, table 8.19: (major axis, sc, tc) per face, inverted by hand.
    return {
        "px": (1.0, -tc, -sc),
        "nx": (-1.0, -tc, sc),
        "py": (sc, 1.0, tc),
        "ny": (sc, -1.0, -tc),
        "pz": (sc, -tc, 1.0),
        "nz": (-sc, -tc, -1.0),
    }[face]


@pytest.mark.parametrize(
    ("face", "centre", "right", "down"),
    [
        # centre of the face, direction towards its right edge, towards its bottom edge
        ("px", (1, 0, 0), (0, 0, -1), (0, -1, 0)),
        ("nx", (-1, 0, 0), (0, 0, 1), (0, -1, 0)),
        ("py", (0, 1, 0), (1, 0, 0), (0, 0, 1)),
        ("ny", (0, -1, 0), (1, 0, 0), (0, 0, -1)),
        ("pz", (0, 0, 1), (1, 0, 0), (0, -1, 0)),
        ("nz", (0, 0, -1), (-1, 0, 0), (0, -1, 0)),
    ],
)
def test_cubemap_face_orientation(analytic: np.ndarray, face: str, centre, right, down) -> None:
    size = 64
    image = proj.equirect_to_cubemap(analytic, size)[face]
    mid = size // 2
    # Pixel-centre offsets: the face centre lies between pixels mid-1 and mid.
    centre_colour = (image[mid - 1 : mid + 1, mid - 1 : mid + 1]).mean(axis=(0, 1))
    assert np.allclose(centre_colour, direction_colour(np.array(centre, float)), atol=0.01)
    right_edge = image[mid - 1 : mid + 1, -1].mean(axis=0)
    half = 1.0 - 1.0 / size  # sc of the last column
    assert np.allclose(right_edge, direction_colour(np.add(centre, np.multiply(right, half))), atol=0.01)
    bottom_edge = image[-1, mid - 1 : mid + 1].mean(axis=0)
    assert np.allclose(bottom_edge, direction_colour(np.add(centre, np.multiply(down, half))), atol=0.01)
    # The module's direction table agrees with the hand-written one at every corner.
    directions = proj.cube_face_directions(face, 2)
    for row, tc in enumerate((-0.5, 0.5)):
        for col, sc in enumerate((-0.5, 0.5)):
            assert np.allclose(directions[row, col], _face_direction_by_hand(face, sc, tc))


def test_cubemap_faces_join_without_seams(analytic: np.ndarray) -> None:
    size = 64
    faces = proj.equirect_to_cubemap(analytic, size)
    step = 1.0 / size  # colour change across one pixel is at most about this (the colour is (d+1)/2)
    # (face A edge, face B edge) pairs that touch on the cube, as pixel strips in matching order.
    pairs = [
        (faces["nx"][:, -1], faces["pz"][:, 0]),
        (faces["pz"][:, -1], faces["px"][:, 0]),
        (faces["px"][:, -1], faces["nz"][:, 0]),
        (faces["nz"][:, -1], faces["nx"][:, 0]),
        (faces["py"][-1, :], faces["pz"][0, :]),
        (faces["ny"][0, :], faces["pz"][-1, :]),
        (faces["py"][0, :], faces["nz"][0, ::-1]),
        (faces["py"][:, -1], faces["px"][0, ::-1]),
        (faces["py"][:, 0], faces["nx"][0, :]),
    ]
    for a, b in pairs:
        assert np.abs(a - b).max() < 1.5 * step


def test_sample_equirect_at_arbitrary_directions(analytic: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    directions = rng.normal(size=(40, 25, 3)) * rng.uniform(0.1, 10, size=(40, 25, 1))  # any length
    sampled = proj.sample_equirect(analytic, directions)
    assert sampled.shape == (40, 25, 3)
    assert np.abs(sampled - direction_colour(directions)).max() < TOLERANCE
    grey = proj.sample_equirect(analytic[..., 0], directions)
    assert grey.shape == (40, 25)


def test_cubemap_uint8_and_greyscale() -> None:
    grey = (np.arange(W)[None, :].repeat(H, 0) % 256).astype(np.uint8)
    faces = proj.equirect_to_cubemap(grey, 16)
    assert faces["pz"].dtype == np.uint8 and faces["pz"].shape == (16, 16)


def test_cross_geometry(analytic: np.ndarray) -> None:
    size = 32
    faces = proj.equirect_to_cubemap(analytic, size)
    cross = proj.cubemap_cross(faces)
    assert cross.shape == (3 * size, 4 * size, 3)
    # Unity's horizontal cross: +Y above +Z; -X, +Z, +X, -Z in the middle row; -Y below +Z.
    cells = {(0, 1): "py", (1, 0): "nx", (1, 1): "pz", (1, 2): "px", (1, 3): "nz", (2, 1): "ny"}
    for row in range(3):
        for col in range(4):
            cell = cross[row * size : (row + 1) * size, col * size : (col + 1) * size]
            if (row, col) in cells:
                assert np.array_equal(cell, faces[cells[(row, col)]])
            else:
                assert not cell.any()
    # The middle row is one continuous strip, and the top/bottom faces join +Z.
    assert np.abs(cross[size:-size, size - 1] - cross[size:-size, size]).max() < 1.5 / size
    assert np.abs(cross[size - 1, size : 2 * size] - cross[size, size : 2 * size]).max() < 1.5 / size
    assert np.abs(cross[2 * size - 1, size : 2 * size] - cross[2 * size, size : 2 * size]).max() < 1.5 / size


def test_cross_rejects_bad_faces(analytic: np.ndarray) -> None:
    faces = proj.equirect_to_cubemap(analytic, 8)
    with pytest.raises(ValueError, match="missing: nz"):
        proj.cubemap_cross({k: v for k, v in faces.items() if k != "nz"})
    faces["py"] = faces["py"][:4]
    with pytest.raises(ValueError, match="face py"):
        proj.cubemap_cross(faces)


@pytest.mark.parametrize(
    ("yaw", "pitch", "fov", "width", "height"),
    [(0, 0, 90, 160, 120), (37, 21, 75, 128, 96), (180, -10, 100, 120, 80), (-120, 80, 60, 90, 90)],
)
def test_perspective_pixels_match_directions(analytic, yaw, pitch, fov, width, height) -> None:
    view = proj.equirect_to_perspective(analytic, yaw, pitch, fov, width, height)
    assert view.shape == (height, width, 3)
    expected = direction_colour(proj.perspective_directions(yaw, pitch, fov, width, height))
    assert np.abs(view - expected).max() < TOLERANCE


def test_perspective_camera_convention() -> None:
    # Centre ray: yaw turns right towards +X, pitch looks up.
    def centre(yaw: float, pitch: float) -> np.ndarray:
        d = proj.perspective_directions(yaw, pitch, 90, 2, 2).mean(axis=(0, 1))
        return d / np.linalg.norm(d)

    assert np.allclose(centre(0, 0), [0, 0, 1])
    assert np.allclose(centre(90, 0), [1, 0, 0])
    assert np.allclose(centre(-90, 0), [-1, 0, 0])
    assert np.allclose(centre(0, 90), [0, 1, 0], atol=1e-12)
    # The horizontal FOV spans the outer pixel edges: at fov 90 the left edge ray is 45° from the centre.
    d = proj.perspective_directions(0, 0, 90, 1000, 10)
    left = d[5, 0] / np.linalg.norm(d[5, 0])
    assert math.degrees(math.atan2(left[0], left[2])) == pytest.approx(-45, abs=0.1)
    # Image right is world right (+X at yaw 0), image up is world up.
    assert d[5, -1, 0] > 0 and d[0, 500, 1] > 0
    with pytest.raises(ValueError):
        proj.perspective_directions(0, 0, 180, 10, 10)


def test_roll_yaw_whole_pixels_and_direction() -> None:
    image = np.arange(8, dtype=np.uint8)[None, :].repeat(2, 0)
    rolled = proj.roll_yaw(image, 90)  # 90° = 2 columns on an 8-wide image
    assert rolled.tolist()[0] == [6, 7, 0, 1, 2, 3, 4, 5]
    assert np.array_equal(proj.roll_yaw(image, 360), image)
    assert np.array_equal(proj.roll_yaw(proj.roll_yaw(image, 135), -135), image)


def test_roll_yaw_brings_a_view_to_the_centre(analytic: np.ndarray) -> None:
    centred = proj.roll_yaw(analytic, -90)
    centre = centred[H // 2 - 1 : H // 2 + 1, W // 2 - 1 : W // 2 + 1].mean(axis=(0, 1))
    assert np.allclose(centre, direction_colour(np.array([1.0, 0, 0])), atol=0.01)


def test_roll_yaw_fractional_interpolates_with_wrap() -> None:
    image = np.array([[0.0, 1.0, 0.0, 1.0]], dtype=np.float32)
    half = proj.roll_yaw(image, 45)  # half a column
    assert np.allclose(half, 0.5)
    ramp = np.array([[0, 10, 20, 30]], dtype=np.float32)
    quarter = proj.roll_yaw(ramp, 22.5)  # a quarter column: column 0 mixes in the wrapped column 3
    assert quarter[0, 0] == pytest.approx(0.75 * 0 + 0.25 * 30)


def _smooth_periodic(width: int, height: int) -> np.ndarray:
    # Integer frequencies in yaw make the pattern continuous across the 0/360° seam.
    x = np.arange(width)[None, :] * (2 * math.pi / width)
    y = np.arange(height)[:, None] * (math.pi / height)
    r = 0.5 + 0.3 * np.sin(3 * x + y) + 0.1 * np.cos(7 * x) * np.sin(2 * y)
    g = 0.5 + 0.2 * np.cos(2 * x - 3 * y)
    b = 0.5 + 0.25 * np.sin(5 * x) * np.cos(y)
    return np.stack(np.broadcast_arrays(r, g, b), axis=-1).astype(np.float32)


def test_discontinuity_score_hard_seam_vs_smooth(analytic: np.ndarray) -> None:
    smooth = _smooth_periodic(W, H)
    smooth_score = proj.discontinuity_score(smooth)
    assert 0.5 < smooth_score < 1.5
    assert 0.5 < proj.discontinuity_score(analytic) < 1.5
    # A ramp across the width is smooth inside but jumps at the seam.
    seamed = smooth + np.linspace(0.0, 0.3, W, dtype=np.float32)[None, :, None]
    seam_score = proj.discontinuity_score(seamed)
    assert seam_score > 20 * smooth_score
    # Rolling the hard seam to the middle of the image leaves a seamless 0/360° edge behind.
    assert proj.discontinuity_score(proj.roll_yaw(seamed, 180)) < 1.5
    # uint8 input gives the same answer as the float image it came from.
    as_uint8 = np.rint(seamed.clip(0, 1) * 255).astype(np.uint8)
    assert proj.discontinuity_score(as_uint8) > 20


def test_discontinuity_score_noise_and_flat() -> None:
    rng = np.random.default_rng(1)
    noise = rng.random((64, 256, 3), dtype=np.float32)
    assert 0.7 < proj.discontinuity_score(noise) < 1.4
    assert proj.discontinuity_score(np.zeros((8, 64, 3), np.uint8)) == pytest.approx(1.0)
    band = np.zeros((8, 64), np.float32)
    band[:, 16:48] = 1.0  # edges inside the picture are not the seam; the outer columns match
    assert proj.discontinuity_score(band) == pytest.approx(1.0)
    band[:, :8] = 0.5  # now the seam itself jumps
    assert proj.discontinuity_score(band) > 1000
