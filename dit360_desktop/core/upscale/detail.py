"""The optional detail stage of an upscale: DiT360 img2img at low strength over overlapping windows of
the upscaled panorama, averaged MultiDiffusion-style (Bar-Tal et al. 2023: each pixel is the weighted
average of the windows that cover it).

- Windows have DiT360's 2:1 shape, at most ``window`` pixels wide (the size the model was trained at).
  They are spaced evenly around the full turn, so the last column of windows wraps across the 0/360° seam
  (its pixels are gathered with wrapped column indices and scattered back the same way), and evenly from
  the top row to the bottom row.
- The weight of a window's pixel falls linearly to a small floor over the overlap at every side that meets
  another window (all four at the sides, not at the poles' rows), so a window's own edges, where img2img
  has the least context, count least.
- Memory is one window in the engine plus two float32 accumulators of the output's size; each window is a
  normal engine run, so the preview, cancel and progress are generation's, with a stage message saying
  which window of how many is running.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from dit360_desktop.core.tasks.base import Runner
from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.events import CancelToken, EventCallback, Stage, StageEvent
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.task_requests import DEFAULT_DETAIL_WINDOW as DEFAULT_WINDOW
from dit360_desktop.panorama.task_requests import MAX_DETAIL_STRENGTH

log = logging.getLogger(__name__)

_WEIGHT_FLOOR = 0.02


@dataclass(frozen=True)
class Window:
    y: int
    x: int  # may run past the right edge: columns wrap
    height: int
    width: int


def plan_windows(
    height: int, width: int, window: int = DEFAULT_WINDOW, overlap: float = 0.25
) -> list[Window]:
    """2:1 windows at most ``window`` wide covering the panorama, overlapping by about ``overlap``."""
    win_w = min(window, width) // 16 * 16
    win_h = min(win_w // 2, height) // 16 * 16
    win_w = 2 * win_h
    if win_h < 64:
        raise RequestError("window", f"the panorama is too small for detail windows ({width}×{height})")
    cols = 1 if win_w >= width else math.ceil(width / (win_w * (1.0 - overlap)))
    rows = 1 if win_h >= height else math.ceil((height - win_h) / (win_h * (1.0 - overlap))) + 1
    xs = [round(i * width / cols) for i in range(cols)]
    ys = [round(j * (height - win_h) / (rows - 1)) if rows > 1 else 0 for j in range(rows)]
    return [Window(y, x, win_h, win_w) for y in ys for x in xs]


def window_weights(win: Window, height: int, width: int, ramp: int) -> np.ndarray:
    """(h, w) linear ramps over ``ramp`` pixels at each side that meets another window."""

    def profile(length: int, taper_start: bool, taper_end: bool) -> np.ndarray:
        position = np.arange(length, dtype=np.float32) + 0.5
        weight = np.ones(length, np.float32)
        if taper_start:
            weight = np.minimum(weight, position / ramp)
        if taper_end:
            weight = np.minimum(weight, (length - position) / ramp)
        return np.maximum(weight, _WEIGHT_FLOOR)

    wraps = win.width < width  # more than one window around the turn: every side meets a neighbour
    across = profile(win.width, wraps, wraps)
    down = profile(win.height, win.y > 0, win.y + win.height < height)
    return down[:, None] * across[None, :]


def add_detail(
    runner: Runner,
    pixels: np.ndarray,
    template: GenerationRequest,
    strength: float,
    work_dir: Path,
    *,
    window: int = DEFAULT_WINDOW,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
    on_window: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Low-strength DiT360 img2img over overlapping windows of ``pixels`` (H, W, 3) uint8, averaged."""
    if not 0.0 < strength <= MAX_DETAIL_STRENGTH:
        raise RequestError("detail", f"must be above 0 and at most {MAX_DETAIL_STRENGTH} (got {strength})")
    height, width = pixels.shape[:2]
    windows = plan_windows(height, width, window)
    ramp = max(1, windows[0].height // 4)
    total = np.zeros((height, width, 3), np.float32)
    weight_sum = np.zeros((height, width), np.float32)
    emit = on_event or (lambda _event: None)
    for index, win in enumerate(windows):
        if cancel is not None:
            cancel.raise_if_cancelled()
        emit(StageEvent(Stage.PREPARING, f"Detail window {index + 1} of {len(windows)}"))
        columns = (np.arange(win.x, win.x + win.width)) % width
        rows = slice(win.y, win.y + win.height)
        crop = pixels[rows][:, columns]
        path = work_dir / f"detail-window-{index}.png"
        Image.fromarray(crop).save(path)
        request = template.replace(
            width=win.width, height=win.height, init_image=str(path), strength=strength, fit="stretch"
        )
        result = runner.run(request, on_event, cancel)
        out = np.asarray(result.image.convert("RGB"), dtype=np.float32)
        weights = window_weights(win, height, width, ramp)
        # A window is never wider than the panorama, so its wrapped columns are distinct and += is exact.
        total[rows, columns] += out * weights[..., None]
        weight_sum[rows, columns] += weights
        path.unlink(missing_ok=True)
        if on_window is not None:
            on_window(index + 1, len(windows))
    return np.clip(np.rint(total / weight_sum[..., None]), 0, 255).astype(np.uint8)
