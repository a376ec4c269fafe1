"""An upscale of an image file as one job with engine-style events: a stage message, then a step event per
tile (with the ETA), cancel between tiles; the result carries the source's parameters plus an ``upscale``
block, at the new size (the app's History → Upscale…; ``dit360 upscale`` does the same steps itself)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from dit360_desktop.core.upscale.detail import DEFAULT_WINDOW, add_detail
from dit360_desktop.core.upscale.model import load_sr_model
from dit360_desktop.core.upscale.pipeline import upscale_pixels
from dit360_desktop.core.upscale.tiling import DEFAULT_MARGIN, DEFAULT_TILE_CPU, DEFAULT_TILE_GPU
from dit360_desktop.panorama import imageio
from dit360_desktop.panorama.errors import ImageLoadError
from dit360_desktop.panorama.events import CancelToken, EventCallback, Stage, StageEvent, StepEvent
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result, carried_metadata
from dit360_desktop.panorama.userimage import load_user_image

if TYPE_CHECKING:
    from dit360_desktop.core.engine import PanoramaEngine


def upscale_to_result(
    source: Path,
    request: GenerationRequest,
    sr_model: Path,
    scale: int,
    *,
    tile: int | None = None,
    margin: int = DEFAULT_MARGIN,
    detail: float = 0.0,
    engine: PanoramaEngine | None = None,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
) -> Result:
    """``detail`` > 0 runs the detail stage (``detail.py``) with ``engine`` after the SR passes."""
    emit = on_event or (lambda _event: None)
    cancel = cancel or CancelToken()
    emit(StageEvent(Stage.PREPARING, f"Loading the upscaler {Path(sr_model).name}"))
    pixels = np.asarray(load_user_image(source))
    sr = load_sr_model(sr_model, device=request.device)
    tile = tile if tile is not None else (DEFAULT_TILE_GPU if sr.device.type != "cpu" else DEFAULT_TILE_CPU)
    cancel.raise_if_cancelled()
    emit(StageEvent(Stage.DENOISING, f"Upscaling ×{scale}"))
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        emit(StepEvent(step=done, total=total, elapsed_s=elapsed, eta_s=elapsed / done * (total - done)))

    out, summary = upscale_pixels(
        pixels,
        sr,
        scale,
        tile=tile,
        margin=margin,
        on_progress=progress,
        check_cancel=cancel.raise_if_cancelled,
    )
    if detail > 0:
        if engine is None:
            raise ValueError("the detail stage needs the engine")
        # The SR network's memory goes back before the diffusion model loads.
        sr.module.to("cpu")
        with tempfile.TemporaryDirectory(prefix="dit360-detail-") as work:
            out = add_detail(engine, out, request, detail, Path(work), on_event=on_event, cancel=cancel)
    try:
        # The source's models, versions and task blocks; its request, seed and library keys are its own.
        metadata = carried_metadata(imageio.read_metadata(source).dit360)
    except (ImageLoadError, OSError, ValueError):
        metadata = {}
    height, width = pixels.shape[:2]
    result_request = request.replace(
        width=width * scale, height=height * scale, init_image=None, mask_image=None
    )
    metadata["upscale"] = {
        "source": str(source),
        "source_size": [width, height],
        "scale": scale,
        "model": sr.path.name,
        "architecture": sr.architecture,
        "tile": tile,
        "margin": margin,
        "seconds": round(summary.seconds, 2),
        "notes": summary.notes,
    }
    if detail > 0:
        metadata["upscale"]["detail"] = {"strength": detail, "window": DEFAULT_WINDOW}
    return Result(image=Image.fromarray(out), request=result_request, metadata=metadata)
