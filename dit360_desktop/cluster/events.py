"""What the batch driver reports to its front end (the CLI's progress lines, the app's queue panel).

Plain values only; the driver calls ``on_event`` from its own thread, so a UI must hand them over to its
UI thread (``ui/cluster`` does, through queued signals).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dit360_desktop.cluster.jobs import BatchSummary
from dit360_desktop.cluster.wire import WorkerInfo


@dataclass(frozen=True)
class WorkerJoined:
    worker: WorkerInfo


@dataclass(frozen=True)
class WorkerRefused:
    worker: WorkerInfo
    reason: str


@dataclass(frozen=True)
class WorkerLost:
    worker: WorkerInfo
    reason: str


@dataclass(frozen=True)
class JobSkipped:
    job_id: str
    entry_id: int


@dataclass(frozen=True)
class JobStarted:
    job_id: str
    worker: WorkerInfo
    attempt: int


@dataclass(frozen=True)
class JobStage:
    job_id: str
    stage: str
    message: str


@dataclass(frozen=True)
class JobStep:
    job_id: str
    step: int
    total: int
    elapsed_s: float
    eta_s: float
    worker: str
    preview: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class JobSaved:
    job_id: str
    # history.entry.Entry of the saved panorama.
    entry: Any
    worker: WorkerInfo


@dataclass(frozen=True)
class JobFailed:
    job_id: str
    reason: str
    # True when the job goes back to the queue for another worker.
    retrying: bool


@dataclass(frozen=True)
class JobCancelled:
    job_id: str


@dataclass(frozen=True)
class ClusterLost:
    reason: str
    # The jobs that were queued or running; they were not run and are not in the library.
    unfinished: tuple[str, ...]


@dataclass(frozen=True)
class BatchFinished:
    summary: BatchSummary


DriverEvent = (
    WorkerJoined
    | WorkerRefused
    | WorkerLost
    | JobSkipped
    | JobStarted
    | JobStage
    | JobStep
    | JobSaved
    | JobFailed
    | JobCancelled
    | ClusterLost
    | BatchFinished
)
DriverCallback = Callable[[DriverEvent], None]
