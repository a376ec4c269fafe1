"""Saving results on the driver, a few at a time, with the same ``save_result`` as a local run (library
entry keyed by job id, recovery copy when the library refuses it).

A 2048×1024 save (PNG decode, PNG encode with metadata at zlib level 6, fsync, thumbnail, index row) takes
a large fraction of a second of CPU, while a hundred GPUs deliver several results a second; saved one after
another, the driver would be the bottleneck. zlib and Pillow release the GIL, so a few threads scale with
the driver's cores. The number of results waiting to be saved is bounded by the driver, which stops
fetching results (they wait in the workers' object stores) while the savers are behind.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dit360_desktop.cluster.jobs import BatchJob, with_original_paths
from dit360_desktop.cluster.wire import WorkerInfo, decode_result_png
from dit360_desktop.history.saving import JobKey, save_result
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import CLUSTER_KEY, Result, carried_metadata

log = logging.getLogger(__name__)


def default_save_threads() -> int:
    return max(1, min(8, (os.cpu_count() or 2) - 1))


@dataclass(frozen=True)
class SaveDone:
    job: BatchJob
    attempt: int
    worker: WorkerInfo
    # The history Entry, or None when the save failed (``error`` says why).
    entry: Any = None
    error: BaseException | None = None
    # Where the picture went when the library refused it.
    recovered: Path | None = None


def result_from_reply(job: BatchJob, reply: dict[str, Any]) -> Result:
    """The worker's reply as a Result, with the driver's image paths in the request it records."""
    return Result(
        image=decode_result_png(reply["png"]),
        request=GenerationRequest.from_dict(with_original_paths(reply["request"], job.request)),
        # A worker of an older version also sent the request inside the metadata.
        metadata=carried_metadata(reply["metadata"]),
    )


class SavePool:
    def __init__(self, library: Any, saved: dict[str, int], threads: int | None = None) -> None:
        self.threads = threads or default_save_threads()
        self._library = library
        self._saved = saved
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="dit360-save")
        self._futures: list[Future[SaveDone]] = []

    @property
    def backlog(self) -> int:
        return sum(1 for f in self._futures if not f.done())

    @property
    def pending(self) -> int:
        return len(self._futures)

    def submit(self, job: BatchJob, attempt: int, reply: dict[str, Any]) -> None:
        self._futures.append(self._pool.submit(self._save, job, attempt, reply))

    def _save(self, job: BatchJob, attempt: int, reply: dict[str, Any]) -> SaveDone:
        worker: WorkerInfo = reply["worker"]
        try:
            result = result_from_reply(job, reply)
        except Exception as e:
            log.exception("The result of job %s could not be read", job.job_id)
            return SaveDone(job, attempt, worker, error=e)
        key = JobKey(job.job_id, self._saved, {CLUSTER_KEY: {"worker": worker.to_dict(), "attempt": attempt}})
        report = save_result(result, library=self._library, job=key)
        if report.error is not None:
            log.error("Job %s could not be saved: %s", job.job_id, report.error_text)
        return SaveDone(
            job, attempt, worker, entry=report.entry, error=report.error, recovered=report.recovered
        )

    def collect(self, *, block: bool = False) -> list[SaveDone]:
        """The saves that have finished (all of them, waiting, when ``block``), in submission order."""
        if block and self._futures:
            wait(self._futures)
        finished = [f for f in self._futures if f.done()]
        self._futures = [f for f in self._futures if not f.done()]
        return [f.result() for f in finished]

    def close(self) -> list[SaveDone]:
        """Finish every save already started (a result that arrived is never dropped), then stop."""
        done = self.collect(block=True)
        self._pool.shutdown(wait=True)
        return done
