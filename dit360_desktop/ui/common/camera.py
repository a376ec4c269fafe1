"""The viewer's camera: an observable model (yaw, pitch, fov, mode) and its ray maths in numpy.

Input handlers change this model and the GL widget only renders it. The same ray formulas are
written in ``resources/shaders/view.frag``; the tests compare the two pixel for pixel, so change
them together.

Conventions (identical to ``dit360_desktop.panorama.projection``, so a perspective view here equals
``equirect_to_perspective`` with the same yaw, pitch and fov):
- world axes: x right, y up, z forward (yaw 0, pitch 0 looks along +z);
- a direction at longitude ``lon`` and latitude ``lat`` is (cos lat · sin lon, sin lat, cos lat · cos lon);
- the equirect centre column is yaw 0, the left/right edges are yaw ±180°, the top row is pitch +90°;
- positive yaw turns right (towards larger u), positive pitch looks up;
- ``fov`` is the horizontal field of view in degrees; pixel centres sit at (j + 0.5, i + 0.5).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from dit360_desktop.ui.common.viewer_errors import ViewerError

if TYPE_CHECKING:
    import numpy as np


class ViewMode(str, Enum):
    PERSPECTIVE = "perspective"
    LITTLE_PLANET = "little_planet"
    FLAT = "flat"
    SEAM = "seam"

    @property
    def label(self) -> str:
        return _MODE_LABELS[self]


_MODE_LABELS = {
    ViewMode.PERSPECTIVE: "Perspective",
    ViewMode.LITTLE_PLANET: "Little planet",
    ViewMode.FLAT: "Flat (equirectangular)",
    ViewMode.SEAM: "Seam inspection",
}


@dataclass(frozen=True)
class ModeSpec:
    """Zoom range and starting view of one mode; fov means a different angle in each projection."""

    fov_min: float
    fov_max: float
    fov_default: float
    pitch_default: float
    yaw_default: float = 0.0


MODE_SPECS: dict[ViewMode, ModeSpec] = {
    ViewMode.PERSPECTIVE: ModeSpec(20.0, 120.0, 90.0, 0.0),
    # Stereographic "fov" is the horizontal angle across the screen; beyond ~330° the far side of
    # the sphere blows up to infinity, below 60° it is just a fisheye perspective.
    ViewMode.LITTLE_PLANET: ModeSpec(60.0, 330.0, 260.0, -90.0),
    # Flat "fov" is the longitude span shown across the screen; 360° shows the whole panorama.
    ViewMode.FLAT: ModeSpec(20.0, 360.0, 360.0, 0.0),
    ViewMode.SEAM: ModeSpec(20.0, 120.0, 60.0, 0.0, yaw_default=180.0),
}


@dataclass(frozen=True)
class CameraView:
    """An immutable copy of the camera state, as listeners and renderers receive it."""

    yaw: float
    pitch: float
    fov: float
    mode: ViewMode


def wrap_yaw(yaw: float) -> float:
    """Map any angle in degrees into (-180, 180], so the seam view reads as +180."""
    wrapped = (yaw + 180.0) % 360.0 - 180.0
    return 180.0 if wrapped == -180.0 else wrapped


def flat_fit_fov(aspect: float) -> float:
    """The flat view's longitude span that shows the whole panorama: all 360° across, all 180° up."""
    return max(360.0, 180.0 * aspect)


def fov_for_pixel_scale(mode: ViewMode, width: int, image_width: int) -> float:
    """The fov at which one screen pixel at the centre spans one panorama pixel (360°/image_width),
    inverting ``PanoramaCamera.degrees_per_pixel`` for ``mode``."""
    ratio = math.pi * max(width, 1) / max(image_width, 1)
    if mode is ViewMode.FLAT:
        return 360.0 * width / image_width
    if mode is ViewMode.LITTLE_PLANET:
        return math.degrees(4.0 * math.atan(ratio / 2.0))
    return math.degrees(2.0 * math.atan(ratio))


def flat_pitch_limit(fov: float, aspect: float) -> float:
    """Largest |pitch| in flat mode that keeps the view inside the ±90° latitude band."""
    half_height = 0.5 * fov / aspect
    return max(0.0, 90.0 - half_height)


_FOV_LIMITS = {
    ViewMode.PERSPECTIVE: (1.0, 179.0),
    ViewMode.SEAM: (1.0, 179.0),
    ViewMode.LITTLE_PLANET: (1.0, 359.0),
    ViewMode.FLAT: (1.0, 360.0),
}


def check_snapshot_fov(mode: ViewMode, fov: float | None) -> None:
    """Exports may go beyond the interactive zoom range, but not past what each projection can show."""
    if fov is None:
        return
    low, high = _FOV_LIMITS[mode]
    if not low <= fov <= high:
        raise ViewerError(
            f"A {mode.label.lower()} snapshot needs a field of view from {low:g}° to {high:g}°."
        )


class PanoramaCamera:
    """Observable camera model. Setters clamp and wrap; listeners hear about real changes only."""

    def __init__(self, mode: ViewMode = ViewMode.PERSPECTIVE) -> None:
        spec = MODE_SPECS[mode]
        self._mode = mode
        self._yaw = spec.yaw_default
        self._pitch = spec.pitch_default
        self._fov = spec.fov_default
        self._aspect = 16.0 / 9.0
        # Each mode remembers its own pitch and zoom so switching back restores the framing.
        self._remembered: dict[ViewMode, tuple[float, float]] = {}
        self._listeners: list[Callable[[CameraView], None]] = []

    @property
    def yaw(self) -> float:
        return self._yaw

    @yaw.setter
    def yaw(self, value: float) -> None:
        self.look_at(value, self._pitch)

    @property
    def pitch(self) -> float:
        return self._pitch

    @pitch.setter
    def pitch(self, value: float) -> None:
        self.look_at(self._yaw, value)

    @property
    def fov(self) -> float:
        return self._fov

    @fov.setter
    def fov(self, value: float) -> None:
        self._update(fov=value)

    @property
    def mode(self) -> ViewMode:
        return self._mode

    @mode.setter
    def mode(self, value: ViewMode | str) -> None:
        self.set_mode(value)

    @property
    def aspect(self) -> float:
        return self._aspect

    @property
    def spec(self) -> ModeSpec:
        return MODE_SPECS[self._mode]

    @property
    def view(self) -> CameraView:
        return CameraView(self._yaw, self._pitch, self._fov, self._mode)

    def add_listener(self, listener: Callable[[CameraView], None]) -> Callable[[], None]:
        """Call ``listener(view)`` after every change; returns a function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def look_at(self, yaw: float, pitch: float) -> None:
        self._update(yaw=yaw, pitch=pitch)

    def rotate(self, dyaw: float, dpitch: float) -> None:
        self._update(yaw=self._yaw + dyaw, pitch=self._pitch + dpitch)

    def zoom(self, factor: float) -> None:
        """Multiply the field of view by ``factor`` (< 1 zooms in)."""
        self._update(fov=self._fov * factor)

    def set_viewport(self, width: int, height: int) -> None:
        """The flat mode's pitch range depends on the window shape; a fitted flat view stays fitted."""
        if width <= 0 or height <= 0:
            return
        fitted = self._mode is ViewMode.FLAT and self._fov == flat_fit_fov(self._aspect)
        self._aspect = width / height
        self._update(fov=flat_fit_fov(self._aspect) if fitted else None)

    def fit(self) -> None:
        """The flat view of the whole panorama as it is: yaw 0 in the middle, nothing cut off."""
        self.set_mode(ViewMode.FLAT)
        self._update(yaw=0.0, pitch=0.0, fov=flat_fit_fov(self._aspect))

    def fov_range(self) -> tuple[float, float]:
        """The zoom range of the current mode (the flat one widens to fit a wide window)."""
        spec = self.spec
        if self._mode is ViewMode.FLAT:
            return spec.fov_min, flat_fit_fov(self._aspect)
        return spec.fov_min, spec.fov_max

    def set_mode(self, mode: ViewMode | str) -> None:
        mode = ViewMode(mode)
        if mode is self._mode:
            return
        self._remembered[self._mode] = (self._pitch, self._fov)
        spec = MODE_SPECS[mode]
        default_fov = flat_fit_fov(self._aspect) if mode is ViewMode.FLAT else spec.fov_default
        pitch, fov = self._remembered.get(mode, (spec.pitch_default, default_fov))
        self._mode = mode
        self._update(pitch=pitch, fov=fov, force=True)

    def inspect_seam(self) -> None:
        """Seam mode, looking straight at the 0/360° join."""
        self.set_mode(ViewMode.SEAM)
        spec = MODE_SPECS[ViewMode.SEAM]
        self._update(yaw=spec.yaw_default, pitch=spec.pitch_default)

    def reset(self) -> None:
        spec = self.spec
        self._remembered.pop(self._mode, None)
        fov = flat_fit_fov(self._aspect) if self._mode is ViewMode.FLAT else spec.fov_default
        self._update(yaw=spec.yaw_default, pitch=spec.pitch_default, fov=fov)

    def degrees_per_pixel(self, width: int) -> float:
        """Angle that one screen pixel spans at the centre, so a drag moves the picture with the cursor."""
        width = max(width, 1)
        half = math.radians(self._fov) / 2.0
        if self._mode is ViewMode.FLAT:
            return self._fov / width
        if self._mode is ViewMode.LITTLE_PLANET:
            # d(theta)/dr at the centre of a stereographic image is 1 (r = 2 tan(theta/2)).
            return math.degrees(2.0 * 2.0 * math.tan(half / 2.0) / width)
        return math.degrees(2.0 * math.tan(half) / width)

    def rays(self, width: int, height: int, fov: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Unit view directions (H, W, 3) for every pixel of this view, and a mask of valid pixels."""
        return view_rays(self.view, width, height, fov=fov)

    def _update(
        self,
        *,
        yaw: float | None = None,
        pitch: float | None = None,
        fov: float | None = None,
        force: bool = False,
    ) -> None:
        low, high = self.fov_range()
        new_fov = _clamp(self._fov if fov is None else float(fov), low, high)
        new_yaw = wrap_yaw(self._yaw if yaw is None else float(yaw))
        limit = 90.0
        if self._mode is ViewMode.FLAT:
            limit = flat_pitch_limit(new_fov, self._aspect)
        new_pitch = _clamp(self._pitch if pitch is None else float(pitch), -limit, limit)
        changed = (new_yaw, new_pitch, new_fov) != (self._yaw, self._pitch, self._fov)
        self._yaw, self._pitch, self._fov = new_yaw, new_pitch, new_fov
        if changed or force:
            view = self.view
            for listener in list(self._listeners):
                listener(view)


def _clamp(value: float, low: float, high: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"camera value must be a finite number, got {value!r}")
    return min(max(value, low), high)


def direction_from_lonlat(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Unit vectors for longitudes/latitudes in radians, stacked on the last axis."""
    import numpy as np

    cos_lat = np.cos(lat)
    return np.stack([cos_lat * np.sin(lon), np.sin(lat), cos_lat * np.cos(lon)], axis=-1)


def camera_basis(yaw_deg: float, pitch_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(right, up, forward) unit vectors of a camera without roll."""
    import numpy as np

    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    forward = np.array([math.cos(pitch) * math.sin(yaw), math.sin(pitch), math.cos(pitch) * math.cos(yaw)])
    right = np.array([math.cos(yaw), 0.0, -math.sin(yaw)])
    up = np.array([-math.sin(pitch) * math.sin(yaw), math.cos(pitch), -math.sin(pitch) * math.cos(yaw)])
    return right, up, forward


def screen_plane(width: int, height: int, half_extent: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates scaled so the left/right screen edges sit at ∓half_extent."""
    import numpy as np

    if width <= 0 or height <= 0:
        raise ValueError(f"view size must be positive, got {width}×{height}")
    xs = (2.0 * (np.arange(width) + 0.5) / width - 1.0) * half_extent
    ys = (1.0 - 2.0 * (np.arange(height) + 0.5) / height) * half_extent * height / width
    return np.meshgrid(xs, ys)


def view_rays(
    view: CameraView, width: int, height: int, fov: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Directions (H, W, 3) and a validity mask (H, W) for ``view`` rendered at width×height."""
    import numpy as np

    fov_deg = view.fov if fov is None else float(fov)
    half = math.radians(fov_deg) / 2.0
    valid = np.ones((height, width), dtype=bool)
    if view.mode is ViewMode.FLAT:
        x, y = screen_plane(width, height, half)
        lon = math.radians(view.yaw) + x
        lat = math.radians(view.pitch) + y
        # Wider than 360° (a fitted wide window): the panorama once, background beside it.
        valid = (np.abs(lat) <= math.pi / 2.0) & (np.abs(x) <= math.pi)
        return direction_from_lonlat(lon, np.clip(lat, -math.pi / 2, math.pi / 2)), valid
    right, up, forward = camera_basis(view.yaw, view.pitch)
    if view.mode is ViewMode.LITTLE_PLANET:
        # Inverse stereographic projection: a plane point at radius r maps to the direction at angle
        # 2·atan(r/2) from the view axis; with s = r²/4 this is ((1 - s)·f + x·r + y·u) / (1 + s).
        x, y = screen_plane(width, height, 2.0 * math.tan(half / 2.0))
        s = (x * x + y * y) / 4.0
        rays = ((1.0 - s)[..., None] * forward + x[..., None] * right + y[..., None] * up) / (1.0 + s)[
            ..., None
        ]
        return rays, valid
    x, y = screen_plane(width, height, math.tan(half))
    rays = forward + x[..., None] * right + y[..., None] * up
    return rays / np.linalg.norm(rays, axis=-1, keepdims=True), valid


def direction_at(view: CameraView, x: float, y: float, width: int, height: int) -> np.ndarray | None:
    """The unit direction under the continuous screen point (x, y) of a width×height view, as
    ``view_rays`` gives at pixel centres (x = j + 0.5); None where no part of the sphere is shown."""
    import numpy as np

    half = math.radians(view.fov) / 2.0
    extent = {ViewMode.FLAT: half, ViewMode.LITTLE_PLANET: 2.0 * math.tan(half / 2.0)}.get(
        view.mode, math.tan(half)
    )
    px = (2.0 * x / width - 1.0) * extent
    py = (1.0 - 2.0 * y / height) * extent * height / width
    if view.mode is ViewMode.FLAT:
        lat = math.radians(view.pitch) + py
        if abs(lat) > math.pi / 2.0 or abs(px) > math.pi:
            return None
        return direction_from_lonlat(np.array(math.radians(view.yaw) + px), np.array(lat))
    right, up, forward = camera_basis(view.yaw, view.pitch)
    if view.mode is ViewMode.LITTLE_PLANET:
        s = (px * px + py * py) / 4.0
        return ((1.0 - s) * forward + px * right + py * up) / (1.0 + s)
    ray = forward + px * right + py * up
    return ray / np.linalg.norm(ray)
