"""Time-based camera motion: drag velocity estimation, inertia after release, auto-rotation.

Pure Python so the feel can be unit-tested; the widget drives it from a timer with real elapsed
times, which keeps the motion the same at 30 or 144 frames per second.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

# Seconds for the coasting speed to fall to 1/e; ~0.3 s feels like a heavy, well-damped globe.
INERTIA_TIME_CONSTANT_S = 0.32
# Below this speed (degrees/s) coasting stops, so the view comes to rest instead of creeping.
INERTIA_STOP_SPEED = 0.4
# A flick is clamped so a fast mouse cannot spin the view uncontrollably.
MAX_FLICK_SPEED = 900.0
# Only drag samples this recent count towards the release velocity; holding still before letting
# go (longer than this) releases with no inertia at all.
VELOCITY_WINDOW_S = 0.08
AUTO_ROTATE_SPEED = 6.0  # degrees per second, slow enough to read the scene


@dataclass
class Inertia:
    """Exponentially decaying angular velocity; ``advance`` returns the exact distance travelled."""

    time_constant: float = INERTIA_TIME_CONSTANT_S
    stop_speed: float = INERTIA_STOP_SPEED
    velocity_yaw: float = 0.0
    velocity_pitch: float = 0.0

    @property
    def active(self) -> bool:
        return math.hypot(self.velocity_yaw, self.velocity_pitch) > self.stop_speed

    def start(self, velocity_yaw: float, velocity_pitch: float) -> None:
        speed = math.hypot(velocity_yaw, velocity_pitch)
        scale = min(1.0, MAX_FLICK_SPEED / speed) if speed > 0 else 0.0
        self.velocity_yaw = velocity_yaw * scale
        self.velocity_pitch = velocity_pitch * scale

    def stop(self) -> None:
        self.velocity_yaw = self.velocity_pitch = 0.0

    def advance(self, dt: float) -> tuple[float, float]:
        """Move ``dt`` seconds forward; returns (dyaw, dpitch) in degrees."""
        if dt <= 0 or not self.active:
            self.stop()
            return 0.0, 0.0
        decay = math.exp(-dt / self.time_constant)
        # Integral of v·exp(-t/tau) over [0, dt].
        travelled = self.time_constant * (1.0 - decay)
        step = (self.velocity_yaw * travelled, self.velocity_pitch * travelled)
        self.velocity_yaw *= decay
        self.velocity_pitch *= decay
        if not self.active:
            self.stop()
        return step


class VelocityTracker:
    """Angular velocity of a drag from its last few motion samples."""

    def __init__(self, window_s: float = VELOCITY_WINDOW_S) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, float, float]] = deque()

    def reset(self) -> None:
        self._samples.clear()

    def add(self, time_s: float, dyaw: float, dpitch: float) -> None:
        self._samples.append((time_s, dyaw, dpitch))
        while self._samples and time_s - self._samples[0][0] > self.window_s:
            self._samples.popleft()

    def velocity(self, now_s: float) -> tuple[float, float]:
        """Degrees per second over the recent window; zero when the pointer has been still."""
        recent = [s for s in self._samples if now_s - s[0] <= self.window_s]
        if not recent:
            return 0.0, 0.0
        # Average over the whole window (not just between samples) so a single late sample after
        # a pause cannot produce a huge speed.
        span = max(now_s - recent[0][0], 1.0 / 120.0, self.window_s / 2.0)
        return sum(s[1] for s in recent) / span, sum(s[2] for s in recent) / span
