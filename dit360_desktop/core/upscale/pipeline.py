"""Upscale a panorama ×2 or ×4: as many SR passes as the model's own scale needs, then, if the model
overshoots (a ×4 model asked for ×2), a seam-aware Lanczos reduction to the exact size."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from dit360_desktop.core.upscale.memory import freed_memory_kept
from dit360_desktop.core.upscale.model import SuperResolution
from dit360_desktop.core.upscale.tiling import plan_tiles, pole_wrap_pad, upscale_tiled

log = logging.getLogger(__name__)

SCALES = (2, 4)


@dataclass
class UpscaleReport:
    passes: int
    tiles: int
    seconds: float
    notes: list[str] = field(default_factory=list)


def passes_for(model_scale: int, scale: int) -> int:
    """SR passes until the cumulative scale reaches ``scale`` (a ×2 model twice for ×4)."""
    passes, reached = 0, 1
    while reached < scale:
        reached *= model_scale
        passes += 1
    return passes


def resize_wrapped(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """Lanczos resize of an equirect whose filter reads across the seam and the poles instead of
    clamping at the image edge (a clamped filter would reopen the seam the tiles avoided)."""
    src_h, src_w = pixels.shape[:2]
    pad = min(16, src_h, src_w // 2)
    padded = Image.fromarray(pole_wrap_pad(pixels, pad, pad, pad, pad))
    resized = padded.resize(
        (width, height), Image.Resampling.LANCZOS, box=(pad, pad, pad + src_w, pad + src_h)
    )
    return np.asarray(resized)


def upscale_pixels(
    pixels: np.ndarray,
    sr: SuperResolution,
    scale: int,
    *,
    tile: int,
    margin: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
) -> tuple[np.ndarray, UpscaleReport]:
    """(H, W, 3) uint8 → (scale·H, scale·W, 3) uint8 with no seam. ``margin`` None: the network's own
    receptive field (``SuperResolution.context_margin``), so tiles join exactly."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES} (got {scale})")
    array = np.ascontiguousarray(pixels)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {array.shape} {array.dtype}")
    height, width = array.shape[:2]
    passes = passes_for(sr.scale, scale)
    # Tiles per pass, known up front so progress counts towards one total.
    counts = [len(plan_tiles(height * sr.scale**i, width * sr.scale**i, tile)) for i in range(passes)]
    total = sum(counts)
    if margin is None:
        margin = sr.context_margin()
    started = time.perf_counter()
    notes = []
    current = array
    # Freed activations stay in the process between layers and tiles (core/upscale/memory.py).
    with freed_memory_kept():
        for index in range(passes):
            before = sum(counts[:index])

            def report(done: int, _count: int, before: int = before) -> None:
                if on_progress is not None:
                    on_progress(before + done, total)

            current = upscale_tiled(
                current,
                sr,
                sr.scale,
                tile=tile,
                margin=margin,
                multiple_of=sr.multiple_of,
                minimum=sr.minimum,
                square=sr.square,
                on_tile=report,
                check_cancel=check_cancel,
            )
    if current.shape[:2] != (height * scale, width * scale):
        notes.append(
            f"The model upscales ×{sr.scale**passes}; reduced to ×{scale} with a seam-aware Lanczos filter."
        )
        current = resize_wrapped(current, width * scale, height * scale)
    seconds = time.perf_counter() - started
    log.info("Upscaled %dx%d ×%d in %d pass(es), %.1f s", width, height, scale, passes, seconds)
    return current, UpscaleReport(passes=passes, tiles=total, seconds=seconds, notes=notes)
