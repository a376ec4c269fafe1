"""Fix seam and/or poles of a panorama (``core/repair.py``): blend edits of the panorama, each run through
``Models.run`` on the FLUX already loaded."""

from __future__ import annotations

import logging
from typing import ClassVar

from dit360_desktop.core.repair import repair_panorama
from dit360_desktop.core.tasks.base import FLUX, Models
from dit360_desktop.panorama.events import CancelToken, EventCallback
from dit360_desktop.panorama.result import Result
from dit360_desktop.panorama.task_requests import RepairRequest

log = logging.getLogger(__name__)


class RepairTask:
    needs: ClassVar[tuple[str, ...]] = (FLUX,)

    def run(self, models: Models, request: RepairRequest, emit: EventCallback, cancel: CancelToken) -> Result:
        result, report = repair_panorama(
            models,
            request.source,
            request.template,
            request.options,
            request.work_dir,
            on_event=emit,
            cancel=cancel,
        )
        log.info("Repaired %s: %s", request.source, report.to_json())
        return result
