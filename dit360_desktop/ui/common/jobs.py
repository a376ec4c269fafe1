"""Plain data that crosses from the generation thread to the UI: no widgets, no torch tensors."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dit360_desktop.panorama.errors import (
    DamagedFileError,
    DiT360Error,
    ImageLoadError,
    LoraMismatchError,
    ModelInvalidError,
    ModelMissingError,
    OutOfMemoryError,
    RequestError,
)
from dit360_desktop.panorama.features import FeatureUnavailableError
from dit360_desktop.panorama.request import PANORAMA_PREFIX, GenerationRequest

if TYPE_CHECKING:
    import numpy as np


class ModelState(str, Enum):
    NOT_LOADED = "not loaded"
    LOADING = "loading"
    READY = "ready"
    MISSING = "missing"


class JobStatus(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"


@dataclass(frozen=True)
class JobInfo:
    """One line of the visible queue."""

    job_id: int
    request: GenerationRequest
    status: JobStatus

    @property
    def label(self) -> str:
        prompt = " ".join(self.request.prompt.split())
        # Every prompt starts with the same sentence by default; it tells jobs apart no better than nothing.
        prompt = prompt.removeprefix(PANORAMA_PREFIX).strip() or prompt
        seed = "random seed" if self.request.seed is None else f"seed {self.request.seed}"
        return f"{prompt[:60]}{'…' if len(prompt) > 60 else ''} · {seed}"


@dataclass(frozen=True)
class RepairJob:
    """A repair (core/repair.py) of a library image instead of one engine run."""

    source: Path
    seam: bool
    poles: bool
    strength: float = 0.75
    # The lineage's edit mask whose black pixels the repair keeps (history/protection.py); None: none.
    kept_mask: Path | None = None


@dataclass(frozen=True)
class UpscaleJob:
    """An upscale (core/upscale/job.py) of a library image."""

    source: Path
    scale: int
    sr_model: Path
    tile: int | None = None
    detail: float = 0.0  # > 0: the DiT360 detail stage at this strength (core/upscale/detail.py)


@dataclass(frozen=True)
class DepthJob:
    """The distance map of a library image (core/tasks/depth.py); saved as an entry linked to ``source``,
    with the float map beside its preview (``<image>.depth.exr``)."""

    source: Path
    depth_model: Path
    size: tuple[int, int] | None = None


@dataclass(frozen=True)
class StereoJob:
    """Top/bottom stereo of a library image (core/tasks/stereo.py) from its distance map ``depth``
    (``metric`` False: relative, taken at a 3 m median); ``fill`` "dit360" regenerates the disocclusions
    with the blend edit (needs FLUX.1-dev), "none" leaves them black in the entry. Saved as an entry linked
    to ``source``."""

    source: Path
    depth: Path
    metric: bool
    ipd: float
    fill: str = "none"


@dataclass(frozen=True)
class FinishedJob:
    job_id: int
    # The request as run (seed resolved).
    request: GenerationRequest
    # HxWx3 uint8, C-contiguous: the UI wraps it in a QImage without another copy.
    image: np.ndarray
    metadata: dict[str, Any]
    # The library entry and its file when the result was saved; save_error says why when it was not.
    entry: Any = None
    saved_path: str | None = None
    save_error: str | None = None
    # Where the recovery copy went when the library could not take the result (None if that failed too).
    recovery_path: str | None = None
    # A depth job's float map (EXR): beside the saved entry, else in a temporary folder the worker keeps.
    depth_path: str | None = None


class ErrorKind(str, Enum):
    MODEL_MISSING = "model_missing"
    MODEL_INVALID = "model_invalid"
    OUT_OF_MEMORY = "out_of_memory"
    BAD_REQUEST = "bad_request"
    IMAGE = "image"
    FEATURE_UNAVAILABLE = "feature_unavailable"
    ENGINE = "engine"
    INTERNAL = "internal"


@dataclass(frozen=True)
class ErrorReport:
    """What the error dialog shows: a plain message up front, the traceback only under "Details"."""

    kind: ErrorKind
    title: str
    message: str
    details: str = ""
    field: str | None = None
    # A weight file found damaged: "Verify & repair" can fix it only when the model manager installed it,
    # which the window decides (it knows the models folder).
    damaged_file: Path | None = None
    # A missing model the catalog provides (ModelMissingError.component): the manager opens on it.
    component: str | None = None


_TITLES = {
    ErrorKind.MODEL_MISSING: "The model is not installed",
    ErrorKind.MODEL_INVALID: "The model could not be used",
    ErrorKind.OUT_OF_MEMORY: "Out of memory",
    ErrorKind.BAD_REQUEST: "A parameter is not valid",
    ErrorKind.IMAGE: "The image could not be used",
    ErrorKind.FEATURE_UNAVAILABLE: "Not available in this installation",
    ErrorKind.ENGINE: "The panorama could not be generated",
    ErrorKind.INTERNAL: "Something went wrong",
}


def classify(error: BaseException) -> ErrorKind:
    if isinstance(error, ModelMissingError):
        return ErrorKind.MODEL_MISSING
    if isinstance(error, (ModelInvalidError, LoraMismatchError)):
        return ErrorKind.MODEL_INVALID
    if isinstance(error, OutOfMemoryError):
        return ErrorKind.OUT_OF_MEMORY
    if isinstance(error, RequestError):
        return ErrorKind.BAD_REQUEST
    if isinstance(error, ImageLoadError):
        return ErrorKind.IMAGE
    if isinstance(error, FeatureUnavailableError):
        return ErrorKind.FEATURE_UNAVAILABLE
    if isinstance(error, DiT360Error):
        return ErrorKind.ENGINE
    return ErrorKind.INTERNAL


def error_report(error: BaseException) -> ErrorReport:
    kind = classify(error)
    details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    if kind is ErrorKind.INTERNAL:
        # An unexpected exception's text is written for programmers; keep it in the details only.
        message = (
            "An unexpected error stopped this generation. The details below and the log file "
            "describe it; please include them if you report the problem."
        )
    else:
        message = str(error) or _TITLES[kind]
    return ErrorReport(
        kind=kind,
        title=_TITLES[kind],
        message=message,
        details=details,
        field=getattr(error, "field", None) if kind is ErrorKind.BAD_REQUEST else None,
        damaged_file=error.path if isinstance(error, DamagedFileError) else None,
        component=getattr(error, "component", None) if kind is ErrorKind.MODEL_MISSING else None,
    )
