"""Control images computed from the panorama on screen: its edges (Canny) or its depth.

The edges are OpenCV's Canny on the panorama wrapped at the seam (``panorama/edges.py``, the function
``dit360 generate --control-from canny`` calls too), computed off the UI thread. The depth is the engine's
depth task, queued on the generation worker like "Depth & 3D" does (a ``DepthJob``: progress and cancel in
the queue, the result saved in the history); its 8-bit preview (near = bright, what the FLUX.1 Depth LoRA
reads, as ``--control-from depth`` takes) becomes the control image when the job comes back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.common.jobs import DepthJob, FinishedJob
from dit360_desktop.ui.guides.guide_files import GuideError, canny_control, write_control_png
from dit360_desktop.ui.widgets.background import BackgroundOp

log = logging.getLogger(__name__)


class ControlSources(QObject):
    message = Signal(str)
    model_missing = Signal(str)  # the catalog component a source needs

    def __init__(
        self,
        form: GenerationForm,
        panorama: Callable[[], np.ndarray | None],
        panorama_file: Callable[[], Path | None],
        enqueue_depth: Callable[[DepthJob, Any], int],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.form = form
        self._panorama = panorama
        self._panorama_file = panorama_file
        self._enqueue_depth = enqueue_depth
        self.op: BackgroundOp | None = None
        self.depth_jobs: set[int] = set()

    def edges(self) -> None:
        pixels = self._panorama()
        if pixels is None:
            self.message.emit("Open or generate a panorama first: its edges become the control image.")
            return
        pixels = np.array(pixels, copy=True)

        def compute(_ctx) -> Path:
            return write_control_png(canny_control(pixels), "canny")

        self.message.emit("Finding the edges of the panorama…")
        self.op = BackgroundOp(self, compute, self._edges_done).failure(self._failed).run_in_background()

    def _edges_done(self, path: Path) -> None:
        self.op = None
        self.form.set("control_image", str(path))
        self.message.emit(f"The panorama's edges are the control image now ({path.name}); use a Canny LoRA.")

    def _failed(self, error: Exception) -> None:
        self.op = None
        if isinstance(error, (GuideError, OSError)):
            self.message.emit(str(error))
        else:
            log.error("Computing a control image failed", exc_info=error)
            self.message.emit(f"The control image could not be computed: {error}")

    def depth(self) -> int | None:
        from dit360_desktop.models.depth import installed_depth_model
        from dit360_desktop.panorama.errors import ModelMissingError
        from dit360_desktop.panorama.request import PANORAMA_PREFIX, GenerationRequest

        source = self._panorama_file()
        if source is None or not source.is_file():
            self.message.emit(
                "The depth is estimated from a saved panorama: select one in the history, or generate one."
            )
            return None
        try:
            model = installed_depth_model()
        except ModelMissingError as e:
            self.message.emit(f"{e} Open the model manager to install it.")
            self.model_missing.emit("depth-anything-v2-small")
            return None
        template = GenerationRequest(prompt=PANORAMA_PREFIX)
        try:
            from PIL import Image

            with Image.open(source) as opened:
                template = template.replace(width=opened.size[0], height=opened.size[1])
        except (OSError, ValueError):
            pass  # the job itself says why the picture cannot be read
        job_id = self._enqueue_depth(DepthJob(source, model), template)
        self.depth_jobs.add(job_id)
        self.message.emit(f"Estimating the depth of {source.name} (job {job_id}; see the queue)…")
        return job_id

    def on_result(self, finished: FinishedJob) -> None:
        if finished.job_id not in self.depth_jobs:
            return
        self.depth_jobs.discard(finished.job_id)
        if not finished.saved_path:
            self.message.emit(f"The depth could not be kept: {finished.save_error}")
            return
        self.form.set("control_image", finished.saved_path)
        self.message.emit(
            f"The depth is the control image now ({Path(finished.saved_path).name}); use a Depth LoRA."
        )

    def wait(self, timeout: float | None = None) -> bool:
        return self.op.wait(timeout) if self.op is not None else True
