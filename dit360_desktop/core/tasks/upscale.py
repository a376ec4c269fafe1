"""Upscale a panorama ×2 or ×4 with a super-resolution model (``core/upscale/job.py``): the plain upscale
needs no FLUX; the detail upscale runs DiT360 img2img windows through ``Models.run`` afterwards."""

from __future__ import annotations

from typing import ClassVar

from dit360_desktop.core.tasks.base import FLUX, Models
from dit360_desktop.core.upscale.job import upscale_to_result
from dit360_desktop.panorama.events import CancelToken, EventCallback
from dit360_desktop.panorama.result import Result
from dit360_desktop.panorama.task_requests import UpscaleRequest


class UpscaleTask:
    needs: ClassVar[tuple[str, ...]] = ()

    def run(
        self, models: Models, request: UpscaleRequest, emit: EventCallback, cancel: CancelToken
    ) -> Result:
        return upscale_to_result(request, None, on_event=emit, cancel=cancel)


class DetailUpscaleTask:
    needs: ClassVar[tuple[str, ...]] = (FLUX,)

    def run(
        self, models: Models, request: UpscaleRequest, emit: EventCallback, cancel: CancelToken
    ) -> Result:
        return upscale_to_result(request, models, on_event=emit, cancel=cancel)
