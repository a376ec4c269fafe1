"""The batch driver: sends jobs to the workers, retries the ones a lost worker dropped, saves results.

The driver is the CLI or the app; it owns the history library and saves each result the moment it
arrives (the same ``history.saving.save_result`` as a local run, keyed by job id), so stopping the driver
loses nothing that had already arrived. Each worker gets one job at a time, so the queue stays here:
cancelling it is instant, and a job is never stuck behind a worker that died.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from dit360_desktop.cluster import events as ev
from dit360_desktop.cluster.connect import LOCAL, connected
from dit360_desktop.cluster.errors import ClusterLostError, NoUsableWorkerError
from dit360_desktop.cluster.jobs import BatchJob, BatchSummary, JobOutcome, JobStatus
from dit360_desktop.cluster.pool import Slot, SlotState, WorkerPool, plan_workers
from dit360_desktop.cluster.saving import SaveDone, SavePool
from dit360_desktop.cluster.wire import WorkerProgress, decode_preview, job_message
from dit360_desktop.cluster.worker import CANCELLED, FAILED, OUT_OF_MEMORY, REFUSED, ProgressInbox
from dit360_desktop.cluster.worker_models import ModelSource
from dit360_desktop.history.errors import LibraryDiskFullError, LibraryReadOnlyError
from dit360_desktop.history.job_claims import ClaimState, JobClaims
from dit360_desktop.history.saving import saved_job_ids
from dit360_desktop.panorama.request import GenerationRequest

log = logging.getLogger(__name__)

POLL_S = 0.1
# The progress inbox answers in milliseconds; on a machine too busy to answer it within DRAIN_TIMEOUT_S, the
# batch goes on (progress is not results) until it has not answered this many times in a row.
DRAIN_TIMEOUT_S = 10.0
DRAIN_TIMEOUTS_BEFORE_LOST = 3
FETCH_START_TIMEOUT_S = 12 * 3600.0
# Failures another worker may not repeat: a process or device problem, not the request's.
_RETRYABLE_KINDS = (OUT_OF_MEMORY, FAILED)


@dataclass(frozen=True)
class ClusterOptions:
    address: str = LOCAL
    model: ModelSource = field(default_factory=ModelSource)
    # Further attempts after a worker was lost (or failed for a non-request reason) during a job.
    retries: int = 2
    workers: int | None = None
    use_gpus: bool | None = None
    gpus_per_worker: float = 1.0
    cpus_per_worker: float = 1.0
    # Workers started in place of lost ones, at most (None: as many as were planned).
    replacements: int | None = None
    # How long to wait for a usable worker while none is working; workers that download FLUX.1-dev
    # (``ModelSource.fetch``, 33 GB) get at least ``FETCH_START_TIMEOUT_S``.
    start_timeout_s: float = 1800.0
    # After a cancel, how long running jobs get to notice before their workers are killed.
    cancel_grace_s: float = 30.0
    preview_interval_s: float = 1.0
    # Threads saving results on the driver (None: one less than its cores, at most 8).
    save_threads: int | None = None
    local_cpus: int | None = None
    quiet: bool = True
    # Hub token for workers that download (``ModelSource.fetch``); None: the driver's stored/$HF_TOKEN one.
    token: str | None = field(default=None, repr=False)


@dataclass
class _Pending:
    job: BatchJob
    request: GenerationRequest
    attempts: int = 0
    avoid: set[str] = field(default_factory=set)
    last_error: str = ""
    worker: str = ""


class BatchDriver:
    """``run(jobs)`` blocks until every job is done, failed, skipped or cancelled; ``cancel()`` may be
    called from any thread (the CLI's Ctrl-C, the app's Stop)."""

    def __init__(self, options: ClusterOptions, library: Any, on_event: ev.DriverCallback | None = None):
        self.options = options
        self._library = library
        self._on_event = on_event
        self._cancel = threading.Event()
        self._outcomes: dict[str, JobOutcome] = {}
        self._running: dict[str, _Pending] = {}
        # Results handed to the savers, by job id.
        self._saving: dict[str, _Pending] = {}
        self._saved: dict[str, int] = {}
        self._saver: SavePool | None = None
        self._error = ""
        self._drain_timeouts = 0

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self, jobs: list[BatchJob]) -> BatchSummary:
        self._saved = saved_job_ids(self._library)
        todo: list[_Pending] = []
        for job in jobs:
            entry_id = self._saved.get(job.job_id)
            if entry_id is not None:
                self._finish(job, JobStatus.SKIPPED, reason=f"already in the library (entry {entry_id})")
                self._emit(ev.JobSkipped(job.job_id, entry_id))
            else:
                todo.append(_Pending(job, job.request))
        with JobClaims(self._library.db_path) as claims:
            try:
                return self._run_claimed(jobs, self._claimed(claims, todo))
            finally:
                # Jobs this run did not save are free for the next run (a cancel, a lost cluster).
                claims.release_unfinished()

    def _claimed(self, claims: JobClaims, todo: list[_Pending]) -> list[_Pending]:
        """The jobs this run holds; another run on the same library keeps the ones it holds (exactly once
        across processes, ``history/job_claims.py``)."""
        held = claims.claim([pending.job.job_id for pending in todo])
        mine = []
        for pending in todo:
            claim = held[pending.job.job_id]
            if claim.state is ClaimState.CLAIMED:
                mine.append(pending)
            elif claim.state is ClaimState.DONE:
                entry_id = claim.entry_id
                self._finish(
                    pending.job, JobStatus.SKIPPED, reason=f"already in the library (entry {entry_id})"
                )
                self._emit(ev.JobSkipped(pending.job.job_id, entry_id))
            else:
                self._finish(pending.job, JobStatus.SKIPPED, reason=f"being run by {claim.holder}")
        return mine

    def _run_claimed(self, jobs: list[BatchJob], todo: list[_Pending]) -> BatchSummary:
        if todo and not self._cancel.is_set():
            self._saver = SavePool(self._library, self._saved, self.options.save_threads)
            try:
                with connected(
                    self.options.address, local_cpus=self.options.local_cpus, quiet=self.options.quiet
                ) as ray:
                    self._run_on_cluster(ray, todo)
            except (ClusterLostError, NoUsableWorkerError) as e:
                self._error = self._error or str(e)
                self._collect_saves(self._saver.close())
                self._give_back(todo, str(e), lost=isinstance(e, ClusterLostError))
            finally:
                # Results that arrived are saved even when the run ends by a second Ctrl-C.
                self._collect_saves(self._saver.close())
        for pending in todo:
            if pending.job.job_id not in self._outcomes:
                self._finish(pending.job, JobStatus.CANCELLED, reason="cancelled before it ran")
        summary = BatchSummary([self._outcomes[job.job_id] for job in jobs], error=self._error)
        self._emit(ev.BatchFinished(summary))
        return summary

    # --- the loop --------------------------------------------------------------------------------------

    def _run_on_cluster(self, ray: Any, todo: list[_Pending]) -> None:
        pool = self._start_pool(ray)
        inbox = ray.remote(ProgressInbox).options(num_cpus=0).remote()
        queue = deque(todo)
        cancel_deadline: float | None = None
        try:
            while queue or pool.busy() or self._saver.pending:
                try:
                    if self._cancel.is_set() and cancel_deadline is None:
                        cancel_deadline = time.monotonic() + self.options.cancel_grace_s
                        self._cancel_all(queue, pool)
                    if cancel_deadline is not None and time.monotonic() > cancel_deadline:
                        for slot in pool.busy():
                            log.warning("%s did not stop in time; killing it", slot.label)
                            self._lose_worker(pool, slot, queue, "killed after the cancel grace time")
                    if cancel_deadline is None:
                        self._dispatch(queue, pool, inbox)
                    inbox = self._wait_and_handle(ray, pool, queue, inbox)
                    self._collect_saves(self._saver.collect())
                    if queue and not pool.idle() and not pool.busy():
                        self._check_workers_left(pool)
                except KeyboardInterrupt:
                    if self._cancel.is_set():
                        raise
                    log.info("Interrupted: cancelling the batch")
                    self._cancel.set()
            self._drain(ray, inbox)
        except (ClusterLostError, NoUsableWorkerError):
            raise
        except KeyboardInterrupt:
            raise
        except Exception as e:
            # Anything Ray raises outside a job's own result: the connection or the head node is gone.
            raise ClusterLostError(
                f"The connection to the cluster was lost ({type(e).__name__}: {e})."
            ) from e
        finally:
            pool.shutdown()
            try:
                ray.kill(inbox)
            except Exception as e:
                log.debug("Killing the progress inbox: %s", e)

    def _start_pool(self, ray: Any) -> WorkerPool:
        options = self.options
        try:
            resources = ray.cluster_resources()
            cpu_nodes = sum(
                1
                for node in ray.nodes()
                if node.get("Alive") and node.get("Resources", {}).get("CPU", 0) >= options.cpus_per_worker
            )
        except Exception as e:
            raise ClusterLostError(f"The cluster did not answer ({e}).") from e
        plan = plan_workers(
            resources,
            cpu_nodes,
            workers=options.workers,
            use_gpus=options.use_gpus,
            gpus_per_worker=options.gpus_per_worker,
            cpus_per_worker=options.cpus_per_worker,
        )
        token = options.token
        if token is None and options.model.fetch:
            from dit360_desktop.models.hub import resolve_token

            token = resolve_token(None)
        pool = WorkerPool(
            ray,
            plan,
            options.model,
            runtime_env=options.model.runtime_env(token),
            preview_interval_s=options.preview_interval_s,
            replacements=plan.count if options.replacements is None else options.replacements,
        )
        log.info("Starting %d worker(s); model from %s", plan.count, options.model.describe())
        pool.start()
        return pool

    def _dispatch(self, queue: deque[_Pending], pool: WorkerPool, inbox: Any) -> None:
        for slot in pool.idle():
            pending = _take_for(queue, slot.name)
            if pending is None:
                return
            if pending.request.seed is None:
                # Drawn once, so a retry on another worker makes the same panorama.
                pending.request = pending.request.with_seed()
            pending.attempts += 1
            pending.worker = slot.label
            message = job_message(
                pending.job.job_id, pending.request.to_dict(), pending.job.files, pending.attempts
            )
            slot.state, slot.job_id = SlotState.BUSY, pending.job.job_id
            slot.run_ref = slot.handle.run_job.remote(message, inbox)
            self._running[pending.job.job_id] = pending
            self._emit(ev.JobStarted(pending.job.job_id, slot.info, pending.attempts))

    def _wait_and_handle(self, ray: Any, pool: WorkerPool, queue: deque[_Pending], inbox: Any) -> Any:
        # While the savers are behind, results stay in the workers' object stores (and those workers idle).
        refs = pool.pending_refs(include_runs=self._saver.backlog < 2 * self._saver.threads)
        if not refs:
            time.sleep(POLL_S)
            return self._drain(ray, inbox)
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=POLL_S)
        # Progress first: a job's last steps were posted before its result left the worker.
        inbox = self._drain(ray, inbox)
        for ref in ready:
            slot, kind = refs[ref]
            if kind == "ready":
                self._on_ready(ray, pool, slot, ref)
            else:
                self._on_result(ray, pool, slot, ref, queue)
        return inbox

    def _on_ready(self, ray: Any, pool: WorkerPool, slot: Slot, ref: Any) -> None:
        try:
            info, problem = ray.get(ref)
        except ray.exceptions.RayError as e:
            pool.retire(slot, SlotState.DEAD)
            log.warning("%s could not start: %s", slot.name, e)
            self._emit(ev.WorkerLost(_unnamed(slot), f"could not start: {_first_line(e)}"))
            return
        slot.info = info
        if problem is not None:
            pool.retire(slot, SlotState.REFUSED)
            self._emit(ev.WorkerRefused(info, problem))
            return
        slot.state = SlotState.IDLE
        self._emit(ev.WorkerJoined(info))

    def _on_result(self, ray: Any, pool: WorkerPool, slot: Slot, ref: Any, queue: deque[_Pending]) -> None:
        pending = self._running.pop(slot.job_id)
        try:
            reply = ray.get(ref)
        except (
            ray.exceptions.RayActorError,
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.NodeDiedError,
        ) as e:
            self._running[pending.job.job_id] = pending
            self._lose_worker(pool, slot, queue, _first_line(e))
            return
        except ray.exceptions.RayTaskError as e:
            reply = {"error": {"kind": FAILED, "message": _first_line(e)}}
        slot.state, slot.job_id, slot.run_ref = SlotState.IDLE, None, None
        error = reply.get("error")
        if error is None:
            self._saver.submit(pending.job, pending.attempts, reply)
            self._saving[pending.job.job_id] = pending
        elif error["kind"] == CANCELLED:
            self._finish(pending.job, JobStatus.CANCELLED, reason=error["message"], pending=pending)
            self._emit(ev.JobCancelled(pending.job.job_id))
        elif error["kind"] == REFUSED:
            # Not the job's fault: it goes back to the front, without using up an attempt.
            pending.attempts -= 1
            queue.appendleft(pending)
            pool.retire(slot, SlotState.REFUSED)
            self._emit(ev.WorkerRefused(slot.info, error["message"]))
        else:
            # A retry goes to another worker where there is one: this one may be the problem.
            pending.avoid.add(slot.name)
            self._failed(pending, error["message"], queue, retryable=error["kind"] in _RETRYABLE_KINDS)

    def _lose_worker(self, pool: WorkerPool, slot: Slot, queue: deque[_Pending], reason: str) -> None:
        """A worker died (killed, crashed, node gone): retry its job elsewhere, maybe start a replacement."""
        job_id = slot.job_id
        pool.retire(slot, SlotState.DEAD)
        self._emit(ev.WorkerLost(slot.info or _unnamed(slot), reason))
        if job_id is not None and job_id in self._running:
            pending = self._running.pop(job_id)
            pending.avoid.add(slot.name)
            message = f"{slot.label} was lost during the job ({reason})"
            if self._cancel.is_set():
                self._finish(pending.job, JobStatus.CANCELLED, reason=message, pending=pending)
                self._emit(ev.JobCancelled(job_id))
            else:
                self._failed(pending, message, queue, retryable=True)
        if queue and not self._cancel.is_set() and pool.replace():
            log.info("Starting a replacement for %s", slot.label)

    def _failed(self, pending: _Pending, message: str, queue: deque[_Pending], *, retryable: bool) -> None:
        pending.last_error = message
        retry = retryable and pending.attempts <= self.options.retries and not self._cancel.is_set()
        self._emit(ev.JobFailed(pending.job.job_id, message, retry))
        if retry:
            queue.appendleft(pending)
        else:
            self._finish(pending.job, JobStatus.FAILED, reason=message, pending=pending)

    def _collect_saves(self, done: list[SaveDone]) -> None:
        for item in done:
            job = item.job
            pending = self._saving.pop(job.job_id, None)
            if item.error is None:
                self._finish(job, JobStatus.DONE, path=str(item.entry.path), pending=pending)
                self._emit(ev.JobSaved(job.job_id, item.entry, item.worker))
                continue
            reason = f"not saved: {item.error}"
            if item.recovered is not None:
                reason += f" (a copy is in the recovery folder: {item.recovered})"
            self._finish(job, JobStatus.FAILED, reason=reason, pending=pending)
            self._emit(ev.JobFailed(job.job_id, reason, False))
            if isinstance(item.error, (LibraryDiskFullError, LibraryReadOnlyError)):
                # Every further result would fail the same way: stop sending work, keep what is saved.
                self._error = str(item.error)
                self._cancel.set()

    def _cancel_all(self, queue: deque[_Pending], pool: WorkerPool) -> None:
        while queue:
            pending = queue.popleft()
            self._finish(pending.job, JobStatus.CANCELLED, reason="cancelled before it ran", pending=pending)
            self._emit(ev.JobCancelled(pending.job.job_id))
        for slot in pool.busy():
            slot.handle.cancel.remote(slot.job_id)

    def _drain(self, ray: Any, inbox: Any) -> Any:
        """Relay progress; a lost inbox (its node died) is replaced, since results do not depend on it."""
        try:
            items: list[WorkerProgress] = ray.get(inbox.take.remote(), timeout=DRAIN_TIMEOUT_S)
        except ray.exceptions.RayActorError:
            log.warning("The progress inbox was lost; starting a new one")
            return ray.remote(ProgressInbox).options(num_cpus=0).remote()
        except ray.exceptions.GetTimeoutError:
            # The items that late take() returns are dropped: progress only, the next take has newer ones.
            self._drain_timeouts += 1
            if self._drain_timeouts >= DRAIN_TIMEOUTS_BEFORE_LOST:
                raise
            log.warning("The progress inbox did not answer within %.0f s; going on", DRAIN_TIMEOUT_S)
            return inbox
        self._drain_timeouts = 0
        for item in items:
            pending = self._running.get(item.job_id)
            if pending is None or pending.attempts != item.attempt:
                continue  # from a job that has finished, or from an attempt on a lost worker
            if item.step:
                preview = decode_preview(item.preview_jpeg) if item.preview_jpeg else None
                self._emit(
                    ev.JobStep(
                        item.job_id, item.step, item.total, item.elapsed_s, item.eta_s, item.worker, preview
                    )
                )
            else:
                self._emit(ev.JobStage(item.job_id, item.stage, item.message))
        return inbox

    def _check_workers_left(self, pool: WorkerPool) -> None:
        starting = pool.starting()
        if starting:
            timeout = self.options.start_timeout_s
            if self.options.model.fetch:
                timeout = max(timeout, FETCH_START_TIMEOUT_S)
            if time.monotonic() > max(s.started_at for s in starting) + timeout:
                raise NoUsableWorkerError(
                    f"No worker became ready within {timeout:.0f} s; does the cluster have free GPUs "
                    "(or CPUs) for them?"
                )
            return
        refused = [s for s in pool.slots if s.state is SlotState.REFUSED]
        reason = "every worker refused jobs" if refused else "every worker was lost"
        raise NoUsableWorkerError(f"No usable worker is left: {reason} (see the messages above).")

    def _give_back(self, todo: list[_Pending], reason: str, *, lost: bool) -> None:
        status = JobStatus.UNFINISHED if lost else JobStatus.FAILED
        left = [p for p in todo if p.job.job_id not in self._outcomes]
        for pending in left:
            self._finish(pending.job, status, reason=reason, pending=pending)
        if lost:
            self._emit(ev.ClusterLost(reason, tuple(p.job.job_id for p in left)))
        self._running.clear()

    # --- bookkeeping -----------------------------------------------------------------------------------

    def _finish(
        self,
        job: BatchJob,
        status: JobStatus,
        *,
        reason: str = "",
        path: str | None = None,
        pending: _Pending | None = None,
    ) -> None:
        self._outcomes[job.job_id] = JobOutcome(
            job.job_id,
            status,
            reason=reason,
            path=path,
            worker=pending.worker if pending else "",
            attempts=pending.attempts if pending else 0,
            line=job.line,
        )

    def _emit(self, event: ev.DriverEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            # A display problem must not stop a batch that is saving results.
            log.exception("The batch progress display failed on %s", type(event).__name__)


def _take_for(queue: deque[_Pending], worker_name: str) -> _Pending | None:
    """The first job not to avoid this worker; else the first job (better a retry here than none)."""
    for index, pending in enumerate(queue):
        if worker_name not in pending.avoid:
            del queue[index]
            return pending
    return queue.popleft() if queue else None


def _unnamed(slot: Slot):
    from dit360_desktop.cluster.wire import WorkerInfo

    return WorkerInfo(name=slot.name, host="?", node_ip="?", pid=0)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
