"""The driver's view of its Ray actors: how many to start, which are starting, idle, busy, refused or dead."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from dit360_desktop.cluster.errors import NoUsableWorkerError
from dit360_desktop.cluster.wire import WorkerInfo
from dit360_desktop.cluster.worker import PanoramaWorker
from dit360_desktop.cluster.worker_models import ModelSource

log = logging.getLogger(__name__)


class SlotState(str, Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    REFUSED = "refused"
    DEAD = "dead"


@dataclass(frozen=True)
class WorkerPlan:
    """How many actors, and what each reserves: a GPU (and some CPUs), or CPUs only."""

    count: int
    num_gpus: float
    num_cpus: float

    @property
    def uses_gpus(self) -> bool:
        return self.num_gpus > 0


def plan_workers(
    resources: dict[str, float],
    cpu_nodes: int,
    *,
    workers: int | None,
    use_gpus: bool | None,
    gpus_per_worker: float,
    cpus_per_worker: float,
) -> WorkerPlan:
    """One worker per GPU when the cluster has GPUs; else one per CPU node (an engine per CPU core would
    load the 33 GB model once per core). ``workers`` overrides the count."""
    gpus = resources.get("GPU", 0.0)
    gpu = use_gpus if use_gpus is not None else gpus >= gpus_per_worker
    if gpu:
        if gpus < gpus_per_worker:
            raise NoUsableWorkerError(f"The cluster has {gpus:g} GPU(s); a worker needs {gpus_per_worker:g}.")
        count = workers if workers is not None else int(gpus // gpus_per_worker)
        return WorkerPlan(count, gpus_per_worker, cpus_per_worker)
    cpus = resources.get("CPU", 0.0)
    if cpus < cpus_per_worker:
        raise NoUsableWorkerError(f"The cluster has {cpus:g} CPU(s); a worker needs {cpus_per_worker:g}.")
    count = workers if workers is not None else max(1, cpu_nodes)
    return WorkerPlan(count, 0.0, cpus_per_worker)


@dataclass
class Slot:
    name: str
    handle: Any
    ready_ref: Any
    state: SlotState = SlotState.STARTING
    info: WorkerInfo | None = None
    job_id: str | None = None
    run_ref: Any = None
    started_at: float = field(default_factory=time.monotonic)

    @property
    def label(self) -> str:
        return self.info.label if self.info is not None else self.name


class WorkerPool:
    def __init__(
        self,
        ray: Any,
        plan: WorkerPlan,
        source: ModelSource,
        *,
        runtime_env: dict | None,
        preview_interval_s: float,
        replacements: int,
    ) -> None:
        self._ray = ray
        self.plan = plan
        self._source = source
        self._runtime_env = runtime_env
        self._preview_interval_s = preview_interval_s
        self.replacements_left = replacements
        self.slots: list[Slot] = []
        self._actor_class = ray.remote(PanoramaWorker)

    def start(self) -> None:
        for _ in range(self.plan.count):
            self._spawn()

    def replace(self) -> bool:
        if self.replacements_left <= 0:
            return False
        self.replacements_left -= 1
        self._spawn()
        return True

    def _spawn(self) -> Slot:
        name = f"worker-{len(self.slots) + 1}"
        options: dict[str, Any] = {
            "num_cpus": self.plan.num_cpus,
            "num_gpus": self.plan.num_gpus,
            # One job plus one ``cancel`` call at a time; the driver never sends a second job.
            "max_concurrency": 2,
            # The driver retries jobs itself, on another worker, and starts replacements when it chooses.
            "max_restarts": 0,
            "max_task_retries": 0,
        }
        if not self.plan.uses_gpus:
            options["scheduling_strategy"] = "SPREAD"
        if self._runtime_env:
            options["runtime_env"] = self._runtime_env
        handle = self._actor_class.options(**options).remote(name, self._source, self._preview_interval_s)
        slot = Slot(name, handle, handle.ready.remote())
        self.slots.append(slot)
        log.info("Starting %s (%s)", name, "GPU" if self.plan.uses_gpus else "CPU")
        return slot

    def idle(self) -> list[Slot]:
        return [s for s in self.slots if s.state is SlotState.IDLE]

    def busy(self) -> list[Slot]:
        return [s for s in self.slots if s.state is SlotState.BUSY]

    def starting(self) -> list[Slot]:
        return [s for s in self.slots if s.state is SlotState.STARTING]

    def pending_refs(self, *, include_runs: bool = True) -> dict[Any, tuple[Slot, str]]:
        refs: dict[Any, tuple[Slot, str]] = {}
        for slot in self.slots:
            if slot.state is SlotState.STARTING:
                refs[slot.ready_ref] = (slot, "ready")
            elif slot.state is SlotState.BUSY and include_runs:
                refs[slot.run_ref] = (slot, "run")
        return refs

    def retire(self, slot: Slot, state: SlotState) -> None:
        """Mark a worker refused or dead and free its GPU (a refusing actor would otherwise hold it)."""
        slot.state = state
        slot.job_id = slot.run_ref = None
        self.kill(slot)

    def kill(self, slot: Slot) -> None:
        try:
            self._ray.kill(slot.handle, no_restart=True)
        except Exception as e:
            # Already gone (that is usually why it is being retired).
            log.debug("Killing %s: %s", slot.name, e)

    def shutdown(self) -> None:
        for slot in self.slots:
            if slot.state not in (SlotState.DEAD, SlotState.REFUSED):
                self.kill(slot)
