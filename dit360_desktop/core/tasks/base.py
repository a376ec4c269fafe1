"""The shape of an engine task: one module per task, one row in ``table.py``, one signature.

``PanoramaEngine.run(request)`` looks ``request.kind`` up in ``table.TASKS``, loads the models the task
``needs`` (each named model once per engine, kept loaded between runs), and calls
``task.run(models, request, emit, cancel)``. A task emits stage and step events, checks ``cancel``
between steps, and returns a ``Result``; it never writes files the caller must keep, except into a work
folder its request names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

from dit360_desktop.panorama.events import CancelToken, EventCallback
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result

# The name of the FLUX.1-dev + DiT360 model (``core.loaded_model.LoadedModel``) in a task's ``needs``.
FLUX = "flux"


class TaskRequest(Protocol):
    """What the engine reads of any request: its task, its checks, and (for a FLUX task) the
    ``GenerationRequest`` holding the model fields, which is the request itself for a generation or edit."""

    @property
    def kind(self) -> str: ...

    def validate(self) -> list[str]: ...


class Task(Protocol):
    # The models the engine loads before ``run``: names of ``table.MODELS`` rows, FLUX included.
    needs: ClassVar[tuple[str, ...]]

    def run(self, models: Models, request: Any, emit: EventCallback, cancel: CancelToken) -> Result: ...


class ModelProvider(Protocol):
    """Loads one named model for the engine and keeps it between runs (a ``table.MODELS`` row builds one).

    ``load`` gets the request being run and returns the loaded model (quickly, when it already is);
    ``unload`` frees it. FLUX is the engine's own and has no provider."""

    def load(self, request: Any, emit: EventCallback, cancel: CancelToken) -> Any: ...

    def unload(self) -> None: ...


class Runner(Protocol):
    """Runs a request to its Result: the engine, or inside a task its ``Models`` (no loading)."""

    def run(
        self, request: Any, on_event: EventCallback | None = None, cancel: CancelToken | None = None
    ) -> Result: ...


class Models(Mapping[str, Any]):
    """The loaded models a task asked for, by name (``models.flux`` is the ``LoadedModel``), and ``run``:
    another request on the same models, as a task made of other tasks does (repair, the detail upscale)."""

    def __init__(
        self, loaded: Mapping[str, Any], run: Callable[[Any, EventCallback, CancelToken], Result]
    ) -> None:
        self._loaded = dict(loaded)
        self._run = run

    def run(
        self, request: Any, on_event: EventCallback | None = None, cancel: CancelToken | None = None
    ) -> Result:
        return self._run(request, on_event or _ignore, cancel or CancelToken())

    def __getitem__(self, name: str) -> Any:
        try:
            return self._loaded[name]
        except KeyError:
            raise KeyError(f"the task did not name {name!r} in its needs") from None

    def __iter__(self):
        return iter(self._loaded)

    def __len__(self) -> int:
        return len(self._loaded)

    @property
    def flux(self) -> Any:
        return self[FLUX]


def model_settings(request: Any) -> GenerationRequest:
    """The ``GenerationRequest`` whose model fields say which FLUX a request runs on."""
    if isinstance(request, GenerationRequest):
        return request
    return request.template


def _ignore(_event: Any) -> None:
    return None
