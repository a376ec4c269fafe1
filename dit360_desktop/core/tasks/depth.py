"""The depth task: Depth Anything V2 on views over the sphere, aligned and blended (``core/depth/``).

Needs the ``depth`` model (``table.MODELS``), not FLUX. Progress is one step per view plus the alignment
and the blend; ``cancel`` is checked between views and between blocks of the blend.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image

from dit360_desktop.core.depth.estimate import estimate_distance
from dit360_desktop.core.depth.model import DepthModel, load_depth_model
from dit360_desktop.core.depth.views import cube_views
from dit360_desktop.core.tasks.base import Models
from dit360_desktop.panorama.depth_requests import DEPTH_FILE_NAME, DepthRequest
from dit360_desktop.panorama.depthmap import save_distance_exr
from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.events import CancelToken, EventCallback, Stage, StageEvent, StepEvent
from dit360_desktop.panorama.result import Result
from dit360_desktop.panorama.userimage import load_user_image

DEPTH = "depth"


class DepthModelProvider:
    """Keeps one Depth Anything V2 loaded between runs; another folder or device replaces it."""

    def __init__(self) -> None:
        self._model: DepthModel | None = None
        self._key: tuple[Path, str] | None = None

    def load(self, request: DepthRequest, emit: EventCallback, cancel: CancelToken) -> DepthModel:
        key = (Path(request.depth_model).expanduser(), request.device)
        if self._model is None or self._key != key:
            cancel.raise_if_cancelled()
            emit(StageEvent(Stage.LOADING, f"depth model {key[0].name}"))
            self.unload()
            self._model = load_depth_model(key[0], device=request.device)
            self._key = key
        return self._model

    def unload(self) -> None:
        self._model = None
        self._key = None


def preview_image(distance: np.ndarray) -> Image.Image:
    """8-bit grey, 1/distance normalised: near = bright (what the history and the gallery show)."""
    inverse = 1.0 / distance.astype(np.float64)
    span = inverse.max() - inverse.min()
    scaled = (inverse - inverse.min()) / span if span > 0 else np.ones_like(inverse)
    return Image.fromarray(np.rint(scaled * 255).astype(np.uint8), "L")


class DepthTask:
    needs: ClassVar[tuple[str, ...]] = (DEPTH,)

    def run(self, models: Models, request: DepthRequest, emit: EventCallback, cancel: CancelToken) -> Result:
        model: DepthModel = models[DEPTH]
        pixels = np.asarray(load_user_image(request.source))
        height, width = pixels.shape[:2]
        if width != 2 * height:
            raise RequestError(
                "image", f"{request.source.name} is {width}×{height}; a panorama is twice as wide as high"
            )
        started = time.perf_counter()

        def progress(done: int, total: int, _message: str) -> None:
            elapsed = time.perf_counter() - started
            eta = elapsed / done * (total - done) if done else 0.0
            emit(StepEvent(done, total, elapsed, eta))

        emit(StageEvent(Stage.PREPARING, "depth of six views over the sphere"))
        depth = estimate_distance(
            pixels,
            model,
            size=request.size,
            views=cube_views(model.view_size),
            on_progress=progress,
            should_stop=cancel.raise_if_cancelled,
        )
        cancel.raise_if_cancelled()
        request.work_dir.mkdir(parents=True, exist_ok=True)
        exr = save_distance_exr(depth.distance, request.work_dir / DEPTH_FILE_NAME)
        metadata = {
            "depth": {
                "source": str(request.source),
                "model": str(model.path),
                "metric": depth.metric,
                "units": "metres" if depth.metric else "relative (median 1)",
                "views": depth.view_count,
                "fit_residual": depth.alignment.residual,
                "size": [int(depth.distance.shape[1]), int(depth.distance.shape[0])],
                "exr": str(exr),
            },
            "timings": {"depth": depth.seconds},
        }
        return Result(image=preview_image(depth.distance), request=request.template, metadata=metadata)
