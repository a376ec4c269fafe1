"""``dit360 batch JOBS.jsonl --cluster ADDRESS``: run a file of requests on a Ray cluster.

One JSON object per line with the request's own field names (as in the saved metadata), plus an
optional ``job_id``. Results are saved into the library as they arrive; a job already in the library
(same job id) is skipped, so running the same file again resumes it. See docs/cluster.md.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from dit360_desktop.cli import exit_codes
from dit360_desktop.cli.arg_types import limited
from dit360_desktop.cli.generate import add_engine_arguments, engine_options
from dit360_desktop.cluster import events as ev
from dit360_desktop.cluster.connect import check_address, ray_installed
from dit360_desktop.cluster.errors import ClusterConnectionError, ClusterUnavailableError
from dit360_desktop.cluster.jobs import JobStatus, format_summary, read_jobs_file
from dit360_desktop.panorama.errors import DiT360Error

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch", help="run a file of requests on a Ray cluster", description=__doc__
    )
    parser.add_argument("jobs", type=Path, metavar="JOBS.jsonl", help="one request (JSON object) per line")
    parser.add_argument(
        "--cluster",
        required=True,
        metavar="ray://HOST:PORT|HOST:PORT|local",
        help="the Ray cluster; local starts a throwaway Ray runtime on this machine",
    )
    parser.add_argument(
        "--model", default=None, metavar="DIR", help="FLUX.1-dev folder every worker can read (shared path)"
    )
    parser.add_argument(
        "--fetch-models",
        action="store_true",
        help="without --model: each worker downloads what its model manager lacks ($HF_TOKEN passed on)",
    )
    parser.add_argument("--models-dir", default=None, metavar="DIR", help="the workers' model manager folder")
    parser.add_argument("--endpoint", default=None, help="hub endpoint or mirror for --fetch-models")
    add_engine_arguments(parser.add_argument_group("how each worker builds its engine"))
    parser.add_argument("--library", type=Path, default=None, help="history library folder (on this machine)")
    parser.add_argument(
        "--retries",
        type=limited("retries"),
        default=2,
        help="attempts after a worker is lost mid-job (default 2)",
    )
    parser.add_argument(
        "--workers", type=limited("workers"), default=None, help="number of workers (default: one per GPU)"
    )
    parser.add_argument("--cpu", action="store_true", help="CPU workers even when the cluster has GPUs")
    parser.add_argument("--cpus-per-worker", type=limited("cpus_per_worker"), default=1.0)
    parser.add_argument(
        "--gpus-per-worker", type=limited("gpus_per_worker"), default=1.0, help="0 with --cpu (default 1)"
    )
    parser.add_argument(
        "--save-threads",
        type=limited("save_threads"),
        default=None,
        help="threads saving results here (default: cores - 1, max 8)",
    )
    parser.add_argument("--quiet", action="store_true", help="only the summary")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not ray_installed():
        return exit_codes.report(ClusterUnavailableError())
    try:
        check_address(args.cluster)
    except ClusterConnectionError as error:
        exit_codes.report(error)
        return exit_codes.BAD_INPUT
    try:
        jobs = read_jobs_file(args.jobs)
    except DiT360Error as error:
        return exit_codes.report(error)

    from dit360_desktop.cluster.driver import BatchDriver, ClusterOptions
    from dit360_desktop.cluster.worker_models import ModelSource
    from dit360_desktop.history.library import Library

    options = ClusterOptions(
        address=args.cluster,
        model=ModelSource(
            model_dir=args.model,
            fetch=args.fetch_models,
            models_dir=args.models_dir,
            endpoint=args.endpoint,
            engine_options=engine_options(args),
        ),
        retries=args.retries,
        workers=args.workers,
        use_gpus=False if args.cpu else None,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=args.gpus_per_worker,
        quiet=not args.verbose,
        save_threads=args.save_threads,
    )
    try:
        library = Library.open(args.library)
    except DiT360Error as error:
        return exit_codes.report(error)
    try:
        driver = BatchDriver(options, library, on_event=BatchProgress(quiet=args.quiet))
        with interrupts_cancel(driver) as interrupted:
            summary = driver.run(jobs)
    except DiT360Error as error:
        return exit_codes.report(error)
    finally:
        library.close()
    sys.stdout.write(format_summary(summary) + "\n")
    if interrupted[0] or (driver.cancelled and summary.by_status(JobStatus.CANCELLED)):
        return exit_codes.INTERRUPTED
    if summary.error:
        # The cluster went away (network), or no worker could take jobs (their model).
        return exit_codes.NETWORK if summary.by_status(JobStatus.UNFINISHED) else exit_codes.MODEL
    return exit_codes.OK if summary.ok else exit_codes.FAILED


@contextlib.contextmanager
def interrupts_cancel(driver: Any) -> Iterator[list[bool]]:
    """Ctrl-C (SIGINT, to this process or its whole process group) cancels the batch: queued jobs are
    dropped, running ones stopped, finished ones kept, and the command exits 130; a second Ctrl-C stops at
    once. A flag, not an exception: a KeyboardInterrupt raised inside Ray's or a saver's code could be
    swallowed there, and the batch would run to its end."""
    interrupted = [False]
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def on_interrupt(_signum: int, _frame: Any) -> None:
        if interrupted[0]:
            raise KeyboardInterrupt
        interrupted[0] = True
        sys.stderr.write(
            "\nStopping: queued jobs are cancelled, running ones stopped, saved results kept "
            "(run the same file again to resume). Ctrl-C again to stop at once.\n"
        )
        driver.cancel()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


class BatchProgress:
    """One line per event on stderr, prefixed with the job (and worker): several jobs run at once."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet

    def __call__(self, event: ev.DriverEvent) -> None:
        if self.quiet:
            return
        text = _describe(event)
        if text:
            self.stream.write(text + "\n")
            self.stream.flush()


def _describe(event: ev.DriverEvent) -> str | None:
    if isinstance(event, ev.WorkerJoined):
        return f"[{event.worker.label}] ready ({event.worker.device or 'device chosen per job'})"
    if isinstance(event, ev.WorkerRefused):
        return f"[{event.worker.label}] refuses jobs: {event.reason}"
    if isinstance(event, ev.WorkerLost):
        return f"[{event.worker.label}] lost: {event.reason}"
    if isinstance(event, ev.JobSkipped):
        return f"{event.job_id}: skipped, already in the library (entry {event.entry_id})"
    if isinstance(event, ev.JobStarted):
        again = f" (attempt {event.attempt})" if event.attempt > 1 else ""
        return f"{event.job_id}: started on {event.worker.label}{again}"
    if isinstance(event, ev.JobStage):
        return f"{event.job_id}: [{event.stage}] {event.message}"
    if isinstance(event, ev.JobStep):
        # Every quarter of the steps: enough to see it move, not a line per step for every job.
        quarter = max(1, event.total // 4)
        if event.step % quarter and event.step != event.total:
            return None
        return f"{event.job_id}: step {event.step}/{event.total} ETA {event.eta_s:.0f} s"
    if isinstance(event, ev.JobSaved):
        return f"{event.job_id}: saved {event.entry.path}"
    if isinstance(event, ev.JobFailed):
        return f"{event.job_id}: failed: {event.reason}" + (
            "; retrying on another worker" if event.retrying else ""
        )
    if isinstance(event, ev.JobCancelled):
        return f"{event.job_id}: cancelled"
    if isinstance(event, ev.ClusterLost):
        return f"The cluster was lost: {event.reason} ({len(event.unfinished)} job(s) unfinished)"
    return None
