"""Fix seam and/or poles of a panorama (``core/repair.py``): blend edits of the panorama, each run through
``Models.run`` on the FLUX already loaded."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

import numpy as np

from dit360_desktop.core.repair import repair_panorama
from dit360_desktop.core.tasks.base import FLUX, Models
from dit360_desktop.panorama.events import CancelToken, EventCallback
from dit360_desktop.panorama.result import Result
from dit360_desktop.panorama.task_requests import RepairRequest

log = logging.getLogger(__name__)


class RepairTask:
    needs: ClassVar[tuple[str, ...]] = (FLUX,)

    def run(self, models: Models, request: RepairRequest, emit: EventCallback, cancel: CancelToken) -> Result:
        protected = None
        if request.kept_mask is not None:
            protected = kept_region(request.kept_mask, request.source)
        result, report = repair_panorama(
            models,
            request.source,
            request.template,
            request.options,
            request.work_dir,
            protected=protected,
            on_event=emit,
            cancel=cancel,
        )
        log.info("Repaired %s: %s", request.source, report.to_json())
        return result


def kept_region(mask_path: Path, source: Path) -> np.ndarray:
    """(H, W) bool at ``source``'s size: the black (kept) pixels of an edit's mask, scaled with nearest
    neighbours when the entry was resized since (an upscale of an edit)."""
    from PIL import Image

    from dit360_desktop.panorama.userimage import load_user_image

    with Image.open(source) as image:
        size = image.size
    mask = load_user_image(mask_path, background=(255, 255, 255)).convert("L")
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.NEAREST)
    return np.asarray(mask) < 128
