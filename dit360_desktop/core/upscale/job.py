"""An upscale of an image file as one job with engine-style events: a stage message, then a step event per
tile (with the ETA), cancel between tiles; the result carries the source's parameters plus an ``upscale``
block, at the new size. The upscale tasks (``core/tasks/upscale.py``) run it for the app, the CLI and the
cluster alike."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from dit360_desktop.core.tasks.base import Runner
from dit360_desktop.core.upscale.detail import add_detail
from dit360_desktop.core.upscale.model import load_sr_model
from dit360_desktop.core.upscale.pipeline import upscale_pixels
from dit360_desktop.core.upscale.tiling import DEFAULT_TILE_CPU, DEFAULT_TILE_GPU
from dit360_desktop.panorama import imageio
from dit360_desktop.panorama.errors import ImageLoadError
from dit360_desktop.panorama.events import CancelToken, EventCallback, Stage, StageEvent, StepEvent
from dit360_desktop.panorama.result import Result, carried_metadata
from dit360_desktop.panorama.task_requests import UpscaleRequest
from dit360_desktop.panorama.userimage import load_user_image


def upscale_to_result(
    request: UpscaleRequest,
    runner: Runner | None = None,
    *,
    on_event: EventCallback | None = None,
    cancel: CancelToken | None = None,
) -> Result:
    """``request.detail`` > 0 runs the detail stage (``detail.py``) with ``runner`` after the SR passes."""
    emit = on_event or (lambda _event: None)
    cancel = cancel or CancelToken()
    template = request.template
    source = Path(request.source)
    emit(StageEvent(Stage.PREPARING, f"Loading the upscaler {Path(request.sr_model).name}"))
    pixels = np.asarray(load_user_image(source))
    sr = load_sr_model(request.sr_model, device=template.device)
    tile = request.tile
    if tile is None:
        tile = DEFAULT_TILE_GPU if sr.device.type != "cpu" else DEFAULT_TILE_CPU
    # None: the network's own receptive field (SuperResolution.context_margin).
    margin = request.margin
    cancel.raise_if_cancelled()
    emit(StageEvent(Stage.DENOISING, f"Upscaling ×{request.scale}"))
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        elapsed = time.perf_counter() - started
        emit(StepEvent(step=done, total=total, elapsed_s=elapsed, eta_s=elapsed / done * (total - done)))

    out, summary = upscale_pixels(
        pixels,
        sr,
        request.scale,
        tile=tile,
        margin=margin,
        on_progress=progress,
        check_cancel=cancel.raise_if_cancelled,
    )
    if request.detail > 0:
        if runner is None:
            raise ValueError("the detail stage needs a runner of the engine's tasks")
        # The SR network's memory goes back before the diffusion model runs.
        sr.module.to("cpu")
        with tempfile.TemporaryDirectory(prefix="dit360-detail-") as work:
            out = add_detail(
                runner,
                out,
                template,
                request.detail,
                Path(work),
                window=request.window,
                on_event=on_event,
                cancel=cancel,
            )
    try:
        # The source's models, versions and task blocks; its request, seed and library keys are its own.
        metadata = carried_metadata(imageio.read_metadata(source).dit360)
    except (ImageLoadError, OSError, ValueError):
        metadata = {}
    height, width = pixels.shape[:2]
    result_request = template.replace(
        width=width * request.scale, height=height * request.scale, init_image=None, mask_image=None
    )
    metadata["upscale"] = {
        "source": str(source),
        "source_size": [width, height],
        "scale": request.scale,
        "model": sr.path.name,
        "architecture": sr.architecture,
        "tile": tile,
        "margin": margin,
        "seconds": round(summary.seconds, 2),
        "notes": summary.notes,
    }
    if request.detail > 0:
        metadata["upscale"]["detail"] = {"strength": request.detail, "window": request.window}
    return Result(image=Image.fromarray(out), request=result_request, metadata=metadata)
