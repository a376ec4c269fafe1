"""The engine's one table: a request's ``kind`` → the task that runs it; and the models tasks may need
besides FLUX (the engine's own), by name → a factory of their ``ModelProvider``.

Adding a task is one module with a class like ``generate.GenerateTask`` and one row in ``TASKS``; a task
on a new model adds one row in ``MODELS`` too (docs/architecture.md, "Adding a task").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dit360_desktop.core.tasks.base import ModelProvider, Task
from dit360_desktop.core.tasks.blend_edit import BlendEditTask
from dit360_desktop.core.tasks.depth import DEPTH, DepthModelProvider, DepthTask
from dit360_desktop.core.tasks.export3d import Export3DTask
from dit360_desktop.core.tasks.generate import GenerateTask
from dit360_desktop.core.tasks.reference_edit import ReferenceEditTask
from dit360_desktop.core.tasks.repair import RepairTask
from dit360_desktop.core.tasks.stereo import StereoFillTask, StereoTask
from dit360_desktop.core.tasks.upscale import DetailUpscaleTask, UpscaleTask
from dit360_desktop.panorama.errors import RequestError

TASKS: dict[str, Task] = {
    "generate": GenerateTask(),
    "blend-edit": BlendEditTask(),
    "reference-edit": ReferenceEditTask(),
    "repair": RepairTask(),
    "upscale": UpscaleTask(),
    "upscale-detail": DetailUpscaleTask(),
    "depth": DepthTask(),
    "export-3d": Export3DTask(),
    "stereo": StereoTask(),
    "stereo-fill": StereoFillTask(),
}

MODELS: dict[str, Callable[[], ModelProvider]] = {DEPTH: DepthModelProvider}


def task_for(request: Any) -> Task:
    kind = getattr(request, "kind", None)
    try:
        return TASKS[kind]
    except (KeyError, TypeError):
        raise RequestError("kind", f"no engine task runs {kind!r} (known: {', '.join(TASKS)})") from None
