"""Distance along the ray for a whole panorama, from any perspective depth source.

The source is anything with a ``kind`` (``merge.DISPARITY`` or ``merge.Z_DEPTH``), a ``metric`` flag and a
call ``source(view_pixels, view) -> (S, S) map``: the Depth Anything model (``core/depth/model.py``) or, in
the geometry test, an exact z-depth with a random scale and shift per view. Views → align → blend
(``merge.py``); a relative result is scaled so that its median distance is 1, a metric one keeps metres.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dit360_desktop.core.depth.merge import (
    Alignment,
    align_views,
    blend_on_sphere,
    view_distances,
)
from dit360_desktop.core.depth.views import DEFAULT_VIEW_SIZE, View, cube_views
from dit360_desktop.panorama.errors import ModelInvalidError

log = logging.getLogger(__name__)

__all__ = ["DepthMap", "DepthSource", "estimate_distance"]


class DepthSource(Protocol):
    kind: str
    metric: bool

    def __call__(self, pixels: np.ndarray, view: View) -> np.ndarray: ...


@dataclass(frozen=True)
class DepthMap:
    distance: np.ndarray  # (H, W) float32, > 0, finite
    metric: bool
    alignment: Alignment
    view_count: int
    seconds: float


def estimate_distance(
    pixels: np.ndarray,
    source: DepthSource,
    *,
    size: tuple[int, int] | None = None,
    views: Sequence[View] | None = None,
    on_progress: Callable[[int, int, str], None] | None = None,
    should_stop: Callable[[], None] | None = None,
) -> DepthMap:
    """The panorama's distance map at ``size`` (W, H; default the panorama's own)."""
    started = time.perf_counter()
    image = np.asarray(pixels)
    if image.ndim != 3 or image.shape[1] != 2 * image.shape[0]:
        raise ValueError(f"expected an equirect panorama twice as wide as high, got shape {image.shape}")
    width, height = size if size is not None else (image.shape[1], image.shape[0])
    layout = list(views) if views is not None else cube_views(DEFAULT_VIEW_SIZE)
    total = len(layout) + 2
    raw = []
    for index, view in enumerate(layout):
        if should_stop is not None:
            should_stop()
        if on_progress is not None:
            on_progress(index, total, f"depth of view {index + 1} of {len(layout)}")
        values = np.asarray(source(view.render(image), view), dtype=np.float64)
        if values.shape != (view.size, view.size):
            raise ValueError(f"the depth source gave a {values.shape} map for a {view.size}-pixel view")
        if not np.all(np.isfinite(values)):
            # Finite pixels in, NaN or inf out: the weights are at fault, not the panorama (exit 3).
            raise ModelInvalidError(
                f"The depth model gave non-finite values for view {index + 1} of {len(layout)}: its weights "
                "are probably damaged. Download the depth model again, or verify it in the model manager."
            )
        raw.append(values)
    if on_progress is not None:
        on_progress(len(layout), total, "aligning the views")
    alignment = align_views(layout, raw, source.kind)
    distances = [
        view_distances(view, values, scale, shift, source.kind)
        for view, values, scale, shift in zip(layout, raw, alignment.scales, alignment.shifts, strict=True)
    ]
    if on_progress is not None:
        on_progress(len(layout) + 1, total, "blending on the sphere")
    distance = blend_on_sphere(layout, distances, width, height, should_stop=should_stop)
    if source.metric:
        # The fit fixes the first view's scale; metres come back from the views' own medians.
        own = np.concatenate(
            [view_distances(v, r, 1.0, 0.0, source.kind).ravel() for v, r in zip(layout, raw, strict=True)]
        )
        own = own[np.isfinite(own) & (own > 0)]
        distance *= np.float32(np.median(own) / np.median(distance))
    else:
        distance /= np.float32(np.median(distance))
    if not np.all(np.isfinite(distance)) or not np.all(distance > 0):
        # A guard, not a repair: the steps above keep every value finite and positive for finite input.
        bad = int(np.count_nonzero(~(np.isfinite(distance) & (distance > 0))))
        raise ValueError(f"the depth merge produced {bad} non-finite or non-positive distances")
    if on_progress is not None:
        on_progress(total, total, "done")
    seconds = time.perf_counter() - started
    log.info("Depth: %d views, fit residual %.4f, %.2f s", len(layout), alignment.residual, seconds)
    return DepthMap(distance.astype(np.float32), source.metric, alignment, len(layout), seconds)
