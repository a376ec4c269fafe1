"""Typed progress events streamed by the engine to the CLI and the UI worker."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from dit360_desktop.panorama.errors import DiT360Error, GenerationCancelled

if TYPE_CHECKING:
    import numpy as np

    from dit360_desktop.panorama.result import Result


class Stage(str, Enum):
    LOADING = "loading"
    ENCODING = "encoding"
    PREPARING = "preparing"
    DENOISING = "denoising"
    DECODING = "decoding"


@dataclass(frozen=True)
class StageEvent:
    stage: Stage
    message: str = ""


@dataclass(frozen=True)
class StepEvent:
    step: int
    total: int
    elapsed_s: float
    eta_s: float
    preview: np.ndarray | None = None

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0


@dataclass(frozen=True)
class DoneEvent:
    result: Result


@dataclass(frozen=True)
class FailedEvent:
    error: DiT360Error


EngineEvent = StageEvent | StepEvent | DoneEvent | FailedEvent
EventCallback = Callable[[EngineEvent], None]


class CancelToken:
    """Set from any thread; the engine checks it every step and between stages."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def reset(self) -> None:
        self._event.clear()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise GenerationCancelled()
