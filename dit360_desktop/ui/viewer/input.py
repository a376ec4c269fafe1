"""Mouse, wheel, pinch and keyboard input for the viewer. Input only ever changes the camera model.

Kept apart from the GL widget so the fallback widget (no OpenGL) and the tests share it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import Qt

from dit360_desktop.ui.common.camera import PanoramaCamera, ViewMode
from dit360_desktop.ui.viewer.motion import Inertia, VelocityTracker

WHEEL_ZOOM_PER_NOTCH = 0.88  # fov factor per 15° wheel notch
PIXEL_ZOOM_RATE = 0.004  # fov factor exp(-rate·pixels) for trackpads that report pixel deltas
KEY_ZOOM_STEP = 0.85
# Held arrow/WASD keys pan half the screen width per second, whatever the zoom or mode.
KEY_PAN_SCREENS_PER_S = 0.5
# A tap (press and release before a frame) turns the view by this much of the screen width at once:
# panning only while held moved nothing for a quick tap.
KEY_TAP_SCREENS = 1.0 / 24.0

_MODE_KEYS = {
    Qt.Key.Key_1: ViewMode.PERSPECTIVE,
    Qt.Key.Key_2: ViewMode.LITTLE_PLANET,
    Qt.Key.Key_3: ViewMode.FLAT,
}
_PAN_KEYS = {
    Qt.Key.Key_Left: (-1, 0),
    Qt.Key.Key_A: (-1, 0),
    Qt.Key.Key_Right: (1, 0),
    Qt.Key.Key_D: (1, 0),
    Qt.Key.Key_Up: (0, 1),
    Qt.Key.Key_W: (0, 1),
    Qt.Key.Key_Down: (0, -1),
    Qt.Key.Key_S: (0, -1),
}
_ZOOM_IN_KEYS = {Qt.Key.Key_Plus, Qt.Key.Key_Equal}
_ZOOM_OUT_KEYS = {Qt.Key.Key_Minus, Qt.Key.Key_Underscore}


@dataclass(frozen=True)
class Shortcut:
    keys: str
    action: str


# For the app's help dialog; the widget handles these while it has keyboard focus.
SHORTCUTS: tuple[Shortcut, ...] = (
    Shortcut("Drag", "Look around (flick to coast)"),
    Shortcut("Wheel / pinch", "Zoom"),
    Shortcut("Arrows / WASD", "Look around"),
    Shortcut("+ / −", "Zoom in / out"),
    Shortcut("R", "Reset the view"),
    Shortcut("1 / 2 / 3", "Perspective / little planet / flat"),
    Shortcut("4", "Inspect the 0/360° seam"),
    Shortcut("Ctrl+1", "Flat view at actual pixels (1:1)"),
    Shortcut("Ctrl+0", "Flat view fitted to the window"),
    Shortcut("G", "Show or hide the latitude/longitude grid"),
    Shortcut("Space", "Start or stop auto-rotation"),
    Shortcut("F11", "Fullscreen viewer"),
    Shortcut("Esc", "Leave fullscreen"),
)


class PointerTool(Protocol):
    """A tool that takes over the pointer from looking around (the edit brush, photo placement).

    Coordinates are the viewer's logical pixels; ``press`` returns whether the tool takes the drag.
    """

    def press(self, x: float, y: float) -> bool: ...
    def move(self, x: float, y: float) -> None: ...
    def release(self) -> None: ...
    def hover(self, x: float, y: float) -> None: ...
    def wheel(self, angle_delta_y: float) -> bool: ...


class ViewerInput:
    """Translates pointer and key events into camera changes, including coasting after a flick."""

    def __init__(self, camera: PanoramaCamera) -> None:
        self.camera = camera
        self.inertia = Inertia()
        self._tracker = VelocityTracker()
        self._drag_from: tuple[float, float] | None = None
        self._held: set[int] = set()
        self._width = 1
        self._height = 1
        # While set, primary drags and the wheel go to the tool; ``look`` presses still turn the view.
        self.tool: PointerTool | None = None
        self._tool_dragging = False

    @property
    def dragging(self) -> bool:
        return self._drag_from is not None

    @property
    def animating(self) -> bool:
        """True while something needs frames without new events (coasting, held keys)."""
        return self.inertia.active or bool(self._held)

    @property
    def viewport(self) -> tuple[int, int]:
        return self._width, self._height

    def set_viewport(self, width: int, height: int) -> None:
        self._width = max(1, width)
        self._height = max(1, height)
        self.camera.set_viewport(width, height)

    def press(self, x: float, y: float, time_s: float, *, look: bool = False) -> None:
        """``look``: the user asked to turn the view even while a tool is active (right button, Alt)."""
        if self.tool is not None and not look and self.tool.press(x, y):
            self.inertia.stop()
            self._tool_dragging = True
            return
        self.inertia.stop()
        self._tracker.reset()
        self._drag_from = (x, y)
        self._tracker.add(time_s, 0.0, 0.0)

    def move(self, x: float, y: float, time_s: float) -> None:
        if self._tool_dragging and self.tool is not None:
            self.tool.move(x, y)
            return
        if self._drag_from is None:
            if self.tool is not None:
                self.tool.hover(x, y)
            return
        dx, dy = x - self._drag_from[0], y - self._drag_from[1]
        self._drag_from = (x, y)
        # The picture follows the pointer: dragging right turns the camera left.
        scale = self.camera.degrees_per_pixel(self._width)
        dyaw, dpitch = -dx * scale, dy * scale
        self.camera.rotate(dyaw, dpitch)
        self._tracker.add(time_s, dyaw, dpitch)

    def release(self, time_s: float) -> None:
        if self._tool_dragging:
            self._tool_dragging = False
            if self.tool is not None:
                self.tool.release()
            return
        if self._drag_from is None:
            return
        self._drag_from = None
        self.inertia.start(*self._tracker.velocity(time_s))
        self._tracker.reset()

    def set_tool(self, tool: PointerTool | None) -> None:
        """Hand primary drags to ``tool`` (None: back to looking around), ending a drag in progress."""
        if self._tool_dragging and self.tool is not None:
            self.tool.release()
        self._tool_dragging = False
        self.tool = tool

    def wheel(self, angle_delta_y: float, pixel_delta_y: float = 0.0) -> None:
        if self.tool is not None and angle_delta_y and self.tool.wheel(angle_delta_y):
            return
        if pixel_delta_y:
            self.camera.zoom(math.exp(-PIXEL_ZOOM_RATE * pixel_delta_y))
        elif angle_delta_y:
            self.camera.zoom(WHEEL_ZOOM_PER_NOTCH ** (angle_delta_y / 120.0))

    def pinch(self, scale_factor: float) -> None:
        """``scale_factor`` > 1 when the fingers spread apart, which zooms in."""
        if scale_factor > 0:
            self.camera.zoom(1.0 / scale_factor)

    def key_press(self, key: int, autorepeat: bool = False) -> bool:
        """Returns whether the key was used, so unused keys (Esc, Ctrl+Enter…) reach the window."""
        if key in _PAN_KEYS:
            if not autorepeat:
                self.inertia.stop()
                self._held.add(key)
                step = KEY_TAP_SCREENS * self._width * self.camera.degrees_per_pixel(self._width)
                dx, dy = _PAN_KEYS[key]
                self.camera.rotate(dx * step, dy * step)
            return True
        if key in _ZOOM_IN_KEYS:
            self.camera.zoom(KEY_ZOOM_STEP)
            return True
        if key in _ZOOM_OUT_KEYS:
            self.camera.zoom(1.0 / KEY_ZOOM_STEP)
            return True
        if key == Qt.Key.Key_R:
            self.inertia.stop()
            self.camera.reset()
            return True
        if key in _MODE_KEYS:
            self.camera.set_mode(_MODE_KEYS[key])
            return True
        if key == Qt.Key.Key_4:
            self.inertia.stop()
            self.camera.inspect_seam()
            return True
        return False

    def key_release(self, key: int, autorepeat: bool = False) -> bool:
        if key in _PAN_KEYS:
            if not autorepeat:
                self._held.discard(key)
            return True
        return False

    def release_keys(self) -> None:
        """Forget held keys (focus loss would otherwise leave the view turning forever)."""
        self._held.clear()

    def tick(self, dt: float) -> None:
        """Advance coasting and held-key panning by ``dt`` seconds."""
        if self._held:
            speed = KEY_PAN_SCREENS_PER_S * self._width * self.camera.degrees_per_pixel(self._width)
            sx = sum(_PAN_KEYS[k][0] for k in self._held)
            sy = sum(_PAN_KEYS[k][1] for k in self._held)
            self.camera.rotate(max(-1, min(1, sx)) * speed * dt, max(-1, min(1, sy)) * speed * dt)
        if self.inertia.active and not self.dragging:
            self.camera.rotate(*self.inertia.advance(dt))
