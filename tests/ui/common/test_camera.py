"""Camera model, ray maths, motion and input mapping; no OpenGL needed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import Qt

from dit360_desktop.panorama.projection import direction_to_equirect_uv, perspective_directions
from dit360_desktop.ui.common.camera import (
    MODE_SPECS,
    CameraView,
    PanoramaCamera,
    ViewMode,
    check_snapshot_fov,
    flat_pitch_limit,
    view_rays,
    wrap_yaw,
)
from dit360_desktop.ui.common.viewer_errors import ViewerError
from dit360_desktop.ui.viewer.input import ViewerInput
from dit360_desktop.ui.viewer.motion import MAX_FLICK_SPEED, Inertia, VelocityTracker


def _lonlat_deg(direction: np.ndarray) -> tuple[float, float]:
    u, v = direction_to_equirect_uv(np.asarray(direction, dtype=float))
    return float((u - 0.5) * 360.0), float((0.5 - v) * 180.0)


@pytest.mark.parametrize(
    ("yaw", "pitch", "fov", "width", "height"),
    [(0, 0, 90, 64, 36), (135, -20, 60, 40, 40), (-170, 75, 110, 33, 17), (180, 0, 20, 16, 9)],
)
def test_perspective_rays_equal_core_projection(yaw, pitch, fov, width, height):
    rays, valid = view_rays(CameraView(yaw, pitch, fov, ViewMode.PERSPECTIVE), width, height)
    expected = perspective_directions(yaw, pitch, fov, width, height)
    expected /= np.linalg.norm(expected, axis=-1, keepdims=True)
    assert valid.all()
    np.testing.assert_allclose(rays, expected, atol=1e-12)


def test_perspective_known_directions():
    # The centre of an even-sized image falls between pixels, so use odd sizes and read the middle.
    def centre(yaw, pitch):
        rays, _ = view_rays(CameraView(yaw, pitch, 90, ViewMode.PERSPECTIVE), 5, 5)
        return rays[2, 2]

    np.testing.assert_allclose(centre(0, 0), [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(centre(90, 0), [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(centre(180, 0), [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(centre(0, 90), [0, 1, 0], atol=1e-12)
    rays, _ = view_rays(CameraView(0, 0, 90, ViewMode.PERSPECTIVE), 101, 101)
    # With a 90° horizontal fov the screen edges are 45° off axis; pixel centres sit half a pixel in.
    assert _lonlat_deg(rays[50, 0])[0] == pytest.approx(-math.degrees(math.atan(1 - 1 / 101)), abs=1e-9)
    assert _lonlat_deg(rays[0, 50])[1] > 0  # the top row looks up


def test_little_planet_is_stereographic():
    view = CameraView(30, -90, 180, ViewMode.LITTLE_PLANET)
    rays, valid = view_rays(view, 201, 201)
    assert valid.all()
    np.testing.assert_allclose(np.linalg.norm(rays, axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(rays[100, 100], [0, -1, 0], atol=1e-12)  # the centre is the nadir
    # fov 180: the horizontal screen edges are 90° from the axis, i.e. on the horizon.
    edge = rays[100, 200]
    assert math.degrees(math.acos(-edge[1])) == pytest.approx(90.0, abs=1.0)
    # Stereographic: angle from the axis θ = 2·atan(r/2), r linear in pixels.
    half = 2 * math.tan(math.radians(180) / 4)
    for column in (120, 150, 180):
        r = (2 * (column + 0.5) / 201 - 1) * half
        theta = math.degrees(math.acos(-rays[100, column][1]))
        assert theta == pytest.approx(math.degrees(2 * math.atan(r / 2)), abs=1e-6)
    # The top of the screen points towards the camera's yaw on the horizon.
    lon, _ = _lonlat_deg(rays[0, 100])
    assert lon == pytest.approx(30.0, abs=1e-6)


def test_flat_rays_map_linearly_and_wrap():
    view = CameraView(170, 0, 360, ViewMode.FLAT)
    rays, valid = view_rays(view, 360, 180)
    assert valid.all()
    lon, lat = _lonlat_deg(rays[90, 0])
    assert lon == pytest.approx(wrap_yaw(170 - 180 + 0.5), abs=1e-6)
    lon, _ = _lonlat_deg(rays[90, 359])
    assert lon == pytest.approx(wrap_yaw(170 + 180 - 0.5), abs=1e-6)
    # One pixel is one degree; the column at the screen centre is the camera yaw (wrapped past 180).
    lon, _ = _lonlat_deg(rays[90, 190])
    assert lon == pytest.approx(wrap_yaw(170 + 10.5), abs=1e-6)
    _, lat = _lonlat_deg(rays[0, 10])
    assert lat == pytest.approx(89.5, abs=1e-6)


def test_flat_marks_outside_the_sphere_invalid():
    _, valid = view_rays(CameraView(0, 0, 360, ViewMode.FLAT), 100, 100)  # 360° wide, 360° tall
    assert valid[50].all()
    assert not valid[0].any() and not valid[-1].any()
    assert valid.sum() == pytest.approx(100 * 50, rel=0.03)


def test_yaw_wraps_into_half_open_range():
    assert wrap_yaw(180) == 180
    assert wrap_yaw(-180) == 180
    assert wrap_yaw(190) == -170
    assert wrap_yaw(-190) == 170
    assert wrap_yaw(720 + 45) == 45
    camera = PanoramaCamera()
    camera.rotate(200, 0)
    assert camera.yaw == -160
    camera.rotate(-40, 0)
    assert camera.yaw == 160


def test_fov_and_pitch_limits_per_mode():
    camera = PanoramaCamera()
    camera.fov = 5
    assert camera.fov == 20
    camera.fov = 500
    assert camera.fov == 120
    camera.zoom(0.01)
    assert camera.fov == 20
    camera.pitch = 120
    assert camera.pitch == 90
    camera.pitch = -120
    assert camera.pitch == -90
    camera.set_mode(ViewMode.LITTLE_PLANET)
    camera.fov = 400
    assert camera.fov == MODE_SPECS[ViewMode.LITTLE_PLANET].fov_max
    camera.set_mode(ViewMode.FLAT)
    camera.set_viewport(400, 100)  # 4:1 window: at 360° the view spans 90° of latitude
    camera.fov = 360
    assert flat_pitch_limit(360, 4.0) == 45
    camera.pitch = 80
    assert camera.pitch == 45
    with pytest.raises(ValueError):
        camera.fov = math.nan


def test_modes_remember_their_own_framing():
    camera = PanoramaCamera()
    camera.look_at(40, 10)
    camera.fov = 50
    camera.set_mode(ViewMode.LITTLE_PLANET)
    assert (camera.pitch, camera.fov) == (-90, MODE_SPECS[ViewMode.LITTLE_PLANET].fov_default)
    assert camera.yaw == 40  # heading is shared between modes
    camera.set_mode("perspective")
    assert (camera.yaw, camera.pitch, camera.fov) == (40, 10, 50)
    camera.reset()
    assert (camera.yaw, camera.pitch, camera.fov) == (0, 0, 90)


def test_inspect_seam_faces_the_join():
    camera = PanoramaCamera()
    camera.look_at(10, 30)
    camera.inspect_seam()
    assert camera.mode is ViewMode.SEAM
    assert (camera.yaw, camera.pitch) == (180, 0)
    rays, _ = camera.rays(5, 5)
    lon, _ = _lonlat_deg(rays[2, 2])
    assert abs(lon) == pytest.approx(180, abs=1e-6)


def test_listeners_hear_only_real_changes():
    camera = PanoramaCamera()
    heard: list[CameraView] = []
    unsubscribe = camera.add_listener(heard.append)
    camera.look_at(0, 0)  # no change
    camera.fov = 200  # clamps to 120: a change
    camera.fov = 300  # clamps to 120 again: no change
    camera.rotate(10, 0)
    camera.set_mode(ViewMode.FLAT)
    assert [v.fov for v in heard] == [120, 120, 360]
    assert heard[1].yaw == 10 and heard[2].mode is ViewMode.FLAT
    unsubscribe()
    camera.rotate(5, 0)
    assert len(heard) == 3


def test_snapshot_fov_range():
    check_snapshot_fov(ViewMode.PERSPECTIVE, 150)
    check_snapshot_fov(ViewMode.FLAT, 360)
    with pytest.raises(ViewerError, match="field of view"):
        check_snapshot_fov(ViewMode.PERSPECTIVE, 180)
    with pytest.raises(ViewerError):
        check_snapshot_fov(ViewMode.LITTLE_PLANET, 0)


def test_inertia_decays_exponentially_and_stops():
    inertia = Inertia(time_constant=0.5)
    inertia.start(100.0, 0.0)
    step, _ = inertia.advance(0.1)
    assert step == pytest.approx(100 * 0.5 * (1 - math.exp(-0.2)))
    assert inertia.velocity_yaw == pytest.approx(100 * math.exp(-0.2))
    # The whole coast travels v·tau, split into frames or not.
    inertia.start(100.0, -40.0)
    total_yaw = total_pitch = 0.0
    for _ in range(400):
        dy, dp = inertia.advance(1 / 60)
        total_yaw += dy
        total_pitch += dp
    assert not inertia.active
    assert total_yaw == pytest.approx(50.0, rel=0.01)
    assert total_pitch == pytest.approx(-20.0, rel=0.01)
    assert inertia.advance(1 / 60) == (0.0, 0.0)


def test_flick_speed_is_clamped():
    inertia = Inertia()
    inertia.start(10_000.0, 0.0)
    assert math.hypot(inertia.velocity_yaw, inertia.velocity_pitch) == pytest.approx(MAX_FLICK_SPEED)


def test_velocity_tracker_ignores_a_pause_before_release():
    tracker = VelocityTracker(window_s=0.08)
    for i in range(10):
        tracker.add(i / 100, 1.0, 0.0)  # 1° every 10 ms = 100°/s
    vy, vp = tracker.velocity(0.09)
    assert vy == pytest.approx(100, rel=0.3) and vp == 0
    assert tracker.velocity(0.5) == (0.0, 0.0)


def test_drag_moves_the_picture_with_the_pointer():
    camera = PanoramaCamera()
    controller = ViewerInput(camera)
    controller.set_viewport(900, 500)
    per_pixel = camera.degrees_per_pixel(900)
    assert per_pixel == pytest.approx(math.degrees(2 * math.tan(math.radians(45)) / 900))
    controller.press(100, 100, 0.0)
    controller.move(190, 80, 0.016)
    assert camera.yaw == pytest.approx(-90 * per_pixel)
    assert camera.pitch == pytest.approx(-20 * per_pixel)
    controller.release(0.02)
    assert controller.inertia.active  # a flick keeps coasting
    yaw = camera.yaw
    controller.tick(0.05)
    assert camera.yaw < yaw
    controller.press(0, 0, 1.0)  # grabbing stops the coast
    assert not controller.inertia.active


def test_keys_zoom_reset_switch_modes_and_pan_while_held():
    camera = PanoramaCamera()
    controller = ViewerInput(camera)
    controller.set_viewport(800, 450)
    assert controller.key_press(Qt.Key.Key_Plus)
    assert camera.fov == pytest.approx(90 * 0.85)
    assert controller.key_press(Qt.Key.Key_Minus)
    assert camera.fov == pytest.approx(90)
    assert controller.key_press(Qt.Key.Key_D)
    controller.tick(0.5)
    assert camera.yaw > 0
    assert controller.key_release(Qt.Key.Key_D)
    yaw = camera.yaw
    controller.tick(0.5)
    assert camera.yaw == yaw
    assert controller.key_press(Qt.Key.Key_R)
    assert (camera.yaw, camera.fov) == (0, 90)
    assert controller.key_press(Qt.Key.Key_2)
    assert camera.mode is ViewMode.LITTLE_PLANET
    assert controller.key_press(Qt.Key.Key_4)
    assert camera.mode is ViewMode.SEAM and camera.yaw == 180
    assert not controller.key_press(Qt.Key.Key_Escape)  # left for the window (cancel)


def test_a_tapped_arrow_turns_the_view_at_once():
    """#21 item 11: a tap (press and release before any frame) used to turn nothing."""
    camera = PanoramaCamera()
    controller = ViewerInput(camera)
    controller.set_viewport(800, 450)
    assert controller.key_press(Qt.Key.Key_Right) and controller.key_release(Qt.Key.Key_Right)
    step = 800 / 24 * camera.degrees_per_pixel(800)
    assert camera.yaw == pytest.approx(step)
    assert controller.key_press(Qt.Key.Key_Up) and controller.key_release(Qt.Key.Key_Up)
    assert camera.pitch > 0
    controller.tick(0.5)  # nothing held: no more turning
    assert camera.yaw == pytest.approx(step)


def test_wheel_and_pinch_zoom_within_limits():
    camera = PanoramaCamera()
    controller = ViewerInput(camera)
    controller.wheel(120)
    assert camera.fov == pytest.approx(90 * 0.88)
    controller.wheel(-120)
    assert camera.fov == pytest.approx(90)
    controller.pinch(2.0)
    assert camera.fov == pytest.approx(45)
    for _ in range(50):
        controller.wheel(120)
    assert camera.fov == 20
    for _ in range(80):
        controller.wheel(-120)
    assert camera.fov == 120
