"""The mask brush and model on the camera maths, without Qt or OpenGL."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.panorama.mask import MASK_NOISE_LEVELS
from dit360_desktop.panorama.projection import direction_to_equirect_uv
from dit360_desktop.ui.common.camera import CameraView, ViewMode, direction_at
from dit360_desktop.ui.painting.brush import (
    Brush,
    EquirectGrid,
    lonlat_to_direction,
    paint_dab,
    slerp_points,
)
from dit360_desktop.ui.painting.mask_model import MaskImportError, MaskModel

W, H = 512, 256


def _solid_angles(width: int, height: int) -> np.ndarray:
    """Exact solid angle of each pixel of a row (the band between its two edge latitudes)."""
    edges = (0.5 - np.arange(height + 1) / height) * math.pi
    return (np.sin(edges[:-1]) - np.sin(edges[1:])) * (2.0 * math.pi / width)


def _pixel_of(direction: np.ndarray, width: int = W, height: int = H) -> tuple[int, int]:
    u, v = direction_to_equirect_uv(direction)
    return int(min(height - 1, v * height)), int(u * width) % width


def test_stroke_across_the_seam_paints_both_edges_without_a_gap():
    model = MaskModel(W, H)
    brush = Brush(radius_deg=4.0, hardness=1.0)
    model.begin_stroke(lonlat_to_direction(170.0, 10.0), brush)
    model.continue_stroke(lonlat_to_direction(-170.0, 10.0))
    model.end_stroke()
    mask = model.array
    row = _pixel_of(lonlat_to_direction(0.0, 10.0))[0]
    assert mask[row, 0] == 255 and mask[row, W - 1] == 255
    # Every column between lon 170° and -170° through the seam is painted on that row; the short way.
    lon = ((np.arange(W) + 0.5) / W - 0.5) * 360.0
    across = np.abs(lon) >= 170.0
    assert (mask[row, across] == 255).all()
    assert (mask[row, np.abs(lon) < 160.0] == 0).all()


def test_cap_at_the_pole_covers_every_longitude_and_its_solid_angle():
    width, height = 1024, 512
    model = MaskModel(width, height)
    radius = 12.0
    model.begin_stroke(lonlat_to_direction(37.0, 90.0), Brush(radius_deg=radius, hardness=1.0))
    model.end_stroke()
    mask = model.array
    rows_inside = int((radius / 180.0) * height) - 1
    assert (mask[:rows_inside] == 255).all()  # no pinch: the polar rows are painted at every longitude
    painted = (mask >= 128) * _solid_angles(width, height)[:, None]
    cap = 2.0 * math.pi * (1.0 - math.cos(math.radians(radius)))
    assert painted.sum() == pytest.approx(cap, rel=0.02)
    assert not mask[rows_inside + 8 :].any()


@pytest.mark.parametrize(("lon", "lat"), [(0.0, 0.0), (179.0, 45.0), (-100.0, -70.0), (10.0, 88.0)])
def test_dab_area_matches_the_caps_solid_angle_anywhere(lon, lat):
    width, height = 1024, 512
    mask = np.zeros((height, width), dtype=np.uint8)
    radius = 6.0
    paint_dab(mask, EquirectGrid(width, height), lonlat_to_direction(lon, lat), Brush(radius, 1.0))
    painted = ((mask >= 128) * _solid_angles(width, height)[:, None]).sum()
    assert painted == pytest.approx(2.0 * math.pi * (1.0 - math.cos(math.radians(radius))), rel=0.03)


def test_stroke_over_the_pole_is_continuous():
    """A drag from one side of the pole to the other goes over it (the great circle), with no gap."""
    model = MaskModel(W, H)
    model.begin_stroke(lonlat_to_direction(0.0, 70.0), Brush(3.0, 1.0))
    model.continue_stroke(lonlat_to_direction(180.0, 70.0))
    model.end_stroke()
    mask = model.array
    for lat in np.arange(70.0, 90.0, 1.0):
        for lon in (0.0, 180.0):
            y, x = _pixel_of(lonlat_to_direction(lon, lat))
            assert mask[y, x] == 255, (lon, lat)
    # Not the long way round the sphere through the equator.
    assert not mask[_pixel_of(lonlat_to_direction(90.0, 0.0))].any()


def test_fast_long_drag_leaves_no_gaps():
    model = MaskModel(W, H)
    model.begin_stroke(lonlat_to_direction(-120.0, 0.0), Brush(1.0, 1.0))
    model.continue_stroke(lonlat_to_direction(120.0, 0.0))  # 120° the short way, over the seam
    model.end_stroke()
    equator = model.array[H // 2 - 1]
    lon = ((np.arange(W) + 0.5) / W - 0.5) * 360.0
    assert (equator[np.abs(lon) >= 121.0] == 255).all()
    assert (equator[np.abs(lon) <= 118.0] == 0).all()


def test_soft_brush_falls_off_and_erase_removes():
    model = MaskModel(W, H)
    centre = lonlat_to_direction(0.0, 0.0)
    model.begin_stroke(centre, Brush(10.0, hardness=0.0))
    model.end_stroke()
    row = model.array[H // 2]
    centre_x = W // 2
    assert row[centre_x] >= 250
    assert 0 < row[centre_x + int(5.0 / 360 * W)] < 255
    assert row[centre_x + int(11.0 / 360 * W)] == 0
    model.begin_stroke(centre, Brush(10.0, hardness=1.0, erase=True))
    model.end_stroke()
    assert not model.array.any()


def test_undo_redo_invert_clear():
    model = MaskModel(W, H)
    events = []
    model.add_listener(events.append)
    model.begin_stroke(lonlat_to_direction(30.0, 20.0), Brush(5.0, 1.0))
    model.continue_stroke(lonlat_to_direction(60.0, 20.0))
    model.end_stroke()
    painted = model.array.copy()
    assert painted.any() and events
    band = events[0]
    assert 0 < band.top < band.bottom < H  # only the stroke's rows are reported
    model.invert()
    assert (model.array == 255 - painted).all()
    model.clear()
    assert not model.array.any()
    assert model.undo() and (model.array == 255 - painted).all()
    assert model.undo() and (model.array == painted).all()
    assert model.undo() and not model.array.any()
    assert not model.undo()
    assert model.redo() and (model.array == painted).all()
    model.begin_stroke(lonlat_to_direction(-90.0, -40.0), Brush(5.0, 1.0))
    model.end_stroke()
    assert not model.can_redo  # a new stroke forgets the undone future


def test_undo_of_one_stroke_keeps_only_its_rows():
    model = MaskModel(W, H)
    model.begin_stroke(lonlat_to_direction(0.0, 0.0), Brush(5.0, 1.0))
    model.end_stroke()
    change = model._undo[-1]
    assert change.before.shape[0] < H // 8  # a 10° wide dab's rows, not the whole mask


def test_png_round_trip_and_bad_masks(tmp_path):
    model = MaskModel(W, H)
    model.begin_stroke(lonlat_to_direction(100.0, -30.0), Brush(9.0, 0.3))
    model.end_stroke()
    path = model.export_png(tmp_path / "mask.png")
    with Image.open(path) as image:
        assert image.mode == "L" and image.size == (W, H)
    other = MaskModel(W, H)
    other.import_png(path)
    # Read back by panorama.mask's one rule: the soft edge's near-black and near-white levels snap.
    expected = model.array.copy()
    expected[expected <= MASK_NOISE_LEVELS] = 0
    expected[expected >= 255 - MASK_NOISE_LEVELS] = 255
    assert np.array_equal(other.array, expected)
    assert ((expected > 0) & (expected < 255)).sum() > 0  # the soft edge itself is kept

    # A half-size mask with the same aspect is resized; white stays white.
    Image.fromarray(np.full((H // 2, W // 2), 255, np.uint8)).save(tmp_path / "small.png")
    other.import_png(tmp_path / "small.png")
    assert (other.array == 255).all()

    Image.fromarray(np.zeros((100, 100), np.uint8)).save(tmp_path / "square.png")
    with pytest.raises(MaskImportError, match="same aspect ratio"):
        other.import_png(tmp_path / "square.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(MaskImportError, match="could not be read"):
        other.import_png(tmp_path / "broken.png")
    assert (other.array == 255).all()  # a failed import changes nothing


def test_bad_brushes_are_refused():
    with pytest.raises(ValueError, match="radius"):
        Brush(radius_deg=0.0)
    with pytest.raises(ValueError, match="hardness"):
        Brush(hardness=1.5)


def test_slerp_points_stay_on_the_great_circle_and_are_spaced():
    a, b = lonlat_to_direction(-80.0, 10.0), lonlat_to_direction(80.0, 30.0)
    points = slerp_points(a, b, math.radians(5.0))
    normal = np.cross(a, b)
    for p, q in itertools.pairwise(points):
        assert abs(p @ normal) < 1e-9
        assert math.degrees(math.acos(min(1.0, p @ q))) <= 5.0 + 1e-9
    assert np.allclose(points[0], a) and np.allclose(points[-1], b)


@pytest.mark.parametrize("mode", [ViewMode.PERSPECTIVE, ViewMode.FLAT, ViewMode.LITTLE_PLANET])
def test_painting_under_the_cursor_marks_the_pixel_under_the_cursor(mode):
    """The viewer's direction under a screen pixel, painted, lands where the panorama shows that pixel."""
    view = CameraView(yaw=175.0, pitch=20.0, fov=80.0 if mode is not ViewMode.FLAT else 200.0, mode=mode)
    width, height = 320, 180
    for x, y in [(160, 90), (20, 30), (300, 170)]:
        direction = direction_at(view, x + 0.5, y + 0.5, width, height)
        assert direction is not None
        model = MaskModel(W, H)
        model.begin_stroke(direction, Brush(1.0, 1.0))
        model.end_stroke()
        assert model.array[_pixel_of(direction)] == 255


def test_direction_at_matches_the_rendered_rays():
    from dit360_desktop.ui.common.camera import view_rays

    view = CameraView(yaw=-30.0, pitch=-50.0, fov=100.0, mode=ViewMode.PERSPECTIVE)
    rays, _ = view_rays(view, 64, 36)
    for x, y in [(0, 0), (63, 35), (10, 20)]:
        assert np.allclose(direction_at(view, x + 0.5, y + 0.5, 64, 36), rays[y, x], atol=1e-9)
    flat = CameraView(yaw=0.0, pitch=0.0, fov=360.0, mode=ViewMode.FLAT)
    assert direction_at(flat, 10.0, 0.5, 640, 1000) is None  # above the top of the sphere


def test_background_painter_paints_what_the_model_paints():
    directions = [lonlat_to_direction(lon, 30.0 + lon / 10.0) for lon in range(150, 220, 7)]
    brush = Brush(6.0, 0.5)
    expected = MaskModel(W, H)
    expected.begin_stroke(directions[0], brush)
    for d in directions[1:]:
        expected.continue_stroke(d)
    expected.end_stroke()

    from dit360_desktop.ui.painting.stroke_thread import StrokePainter

    painter = StrokePainter(MaskModel(W, H))
    painter.begin(directions[0], brush)
    for d in directions[1:]:
        painter.move(d)
    painter.move(np.zeros(3))  # a degenerate event is logged and skipped, the thread lives on
    painter.end()
    painter.flush()
    assert np.array_equal(painter.model.array, expected.array)
    assert painter.model.undo() and not painter.model.array.any()
    painter.close()
