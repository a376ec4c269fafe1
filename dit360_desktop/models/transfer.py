"""Resumable, verified download of one file: ``.part`` + sidecar state, Range/If-Range, retries, hashing.

Invariant: a file reaches its final path only by an atomic rename after its sha256 (or git blob id) and
size matched the hub's listing, so nothing unverified ever sits where a loader looks.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from dit360_desktop.models.errors import (
    AuthRequiredError,
    BadResponseError,
    DiskFullError,
    DownloadCancelled,
    NetworkError,
    RemoteNotFoundError,
    VerificationError,
)
from dit360_desktop.models.fsutil import atomic_write_json, file_lock, format_bytes, free_bytes, read_json
from dit360_desktop.models.httpclient import Aborter, OpenResponse, open_get
from dit360_desktop.panorama.fileio import check_regular_target, fsync_dir, is_disk_full

log = logging.getLogger(__name__)

_WRITEBACK_BYTES = 32 << 20
_HTML_STARTS = (b"<!doctype html", b"<html", b"<?xml", b"<head")


@dataclass(frozen=True)
class TransferSettings:
    stall_timeout_s: float = 30.0  # no byte for this long = a stalled connection
    retries: int = 5
    backoff_s: float = 1.0  # doubled after every failed attempt, up to backoff_max_s
    backoff_max_s: float = 30.0
    chunk_bytes: int = 1024 * 1024  # at most one read; fewer Python round trips on fast links
    disk_margin_bytes: int = 256 * 1024 * 1024


@dataclass(frozen=True)
class FileJob:
    label: str  # "<component>: <repo path>", used in messages
    dest: Path
    part: Path
    size: int
    sha256: str | None
    git_sha1: str | None
    url_for: Callable[[], tuple[str, str]]  # -> (url, endpoint); asked again on every attempt
    token: str | None = None

    @property
    def state_path(self) -> Path:
        return self.part.with_name(self.part.name + ".json")

    @property
    def lock_path(self) -> Path:
        return self.part.with_name(self.part.name + ".lock")


class FileControl:
    """Pause or cancel one transfer from another thread; a blocking read is broken at once."""

    def __init__(self) -> None:
        self._reason: str | None = None
        self._wake = threading.Event()
        self.aborter = Aborter()

    def pause(self) -> None:
        self._stop("pause")

    def cancel(self) -> None:
        self._stop("cancel")

    def _stop(self, reason: str) -> None:
        if self._reason != "cancel":
            self._reason = reason
        self._wake.set()
        self.aborter.abort()

    @property
    def reason(self) -> str | None:
        return self._reason

    def should_stop(self) -> bool:
        return self._reason is not None

    def sleep(self, seconds: float) -> None:
        self._wake.wait(seconds)

    def raise_if_stopped(self, job: FileJob) -> None:
        if self._reason == "cancel":
            discard_partial(job)
            raise DownloadCancelled(f"Cancelled {job.label}; its partial file was removed.")
        if self._reason == "pause":
            raise DownloadCancelled(f"Paused {job.label}; it resumes where it stopped.", paused=True)


@dataclass(frozen=True)
class TransferResult:
    received_bytes: int  # over the network in this call (a resume fetches only the rest)
    sha256: str | None  # of the file now in place; None when another caller had already finished it
    # Seconds the final fsync waited for the disk: the part of the time that buys durability, not
    # transfer (the throughput benchmark compares the rest with curl, which never fsyncs).
    flush_s: float = 0.0


ProgressFn = Callable[[int, int], None]  # (bytes on disk, bytes received over the network so far)


@dataclass
class _Digest:
    """Hashes of the bytes already in the .part file; the transfer appends to them."""

    size: int
    git_sha1: str | None
    offset: int = 0
    sha256: hashlib._Hash = field(default_factory=hashlib.sha256)
    sha1: hashlib._Hash | None = None

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.offset = 0
        self.sha256 = hashlib.sha256()
        # git's blob id: sha1 over "blob <size>\0" followed by the content.
        if self.git_sha1 is not None:
            self.sha1 = hashlib.sha1(f"blob {self.size}\0".encode(), usedforsecurity=False)

    def update(self, data: bytes | memoryview) -> None:
        self.sha256.update(data)
        if self.sha1 is not None:
            self.sha1.update(data)
        self.offset += len(data)


class _HashPipe:
    """Hashes on a second thread while the first receives and writes (hashlib and recv drop the GIL)."""

    def __init__(self, digest: _Digest) -> None:
        self._digest = digest
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=16)
        self._thread = threading.Thread(target=self._run, name="dit360-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            self._digest.update(data)

    def feed(self, data: bytes) -> None:
        self._queue.put(data)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()


@dataclass
class _Tally:
    received: int = 0  # bytes off the network in this call, failed attempts included


class _Retry(Exception):
    """One attempt failed in a way that another attempt may fix."""

    def __init__(self, message: str, *, bad_response: bool = False, restart: bool = False) -> None:
        super().__init__(message)
        self.bad_response = bad_response
        self.restart = restart


def discard_partial(job: FileJob) -> None:
    job.part.unlink(missing_ok=True)
    job.state_path.unlink(missing_ok=True)


def _write_chunk(handle: BinaryIO, data: bytes) -> None:
    # One function so tests can inject ENOSPC at a chosen offset.
    view = memoryview(data)
    while view:
        written = handle.write(view)
        view = view[written:]


def download_file(
    job: FileJob,
    settings: TransferSettings,
    control: FileControl,
    on_progress: ProgressFn | None = None,
    *,
    already_done: Callable[[], bool] | None = None,
) -> TransferResult:
    """Download ``job`` to its final path, verified.

    Two callers asking for the same file share one ``.part``: the second waits on the lock, then finds
    the file done (``already_done``) or resumes what the first left.
    """
    job.part.parent.mkdir(parents=True, exist_ok=True)
    try:
        with file_lock(job.lock_path, should_stop=control.should_stop):
            if already_done is not None and already_done():
                return TransferResult(0, None)
            return _download_locked(job, settings, control, on_progress or (lambda _done, _net: None))
    except InterruptedError as e:
        control.raise_if_stopped(job)
        raise DownloadCancelled(str(e)) from e


def _download_locked(
    job: FileJob, settings: TransferSettings, control: FileControl, on_progress: ProgressFn
) -> int:
    tally = _Tally()
    failures = 0
    digest: _Digest | None = None
    last_error: _Retry | None = None
    while True:
        control.raise_if_stopped(job)
        digest = _prepare_part(job, digest, control)
        _check_free_space(job, digest.offset, settings)
        on_progress(digest.offset, tally.received)
        try:
            if digest.offset < job.size or job.size == 0:
                _attempt(job, settings, control, digest, on_progress, tally)
            sha256, flush_s = _finish(job, digest)
            return TransferResult(tally.received, sha256, flush_s)
        except _Retry as e:
            last_error = e
            failures += 1
            control.raise_if_stopped(job)
            log.warning("%s: attempt %d failed: %s", job.label, failures, e)
            if e.restart:
                discard_partial(job)
                digest = None
            if failures > settings.retries:
                break
            control.sleep(min(settings.backoff_max_s, settings.backoff_s * 2 ** (failures - 1)))
    _, endpoint = job.url_for()
    message = f"{job.label}: {last_error} (from {endpoint}, {failures} attempts)."
    if last_error is not None and last_error.bad_response:
        if "sha256" in str(last_error) or "blob id" in str(last_error):
            raise VerificationError(message + " Try another endpoint (mirror) or try again later.")
        raise BadResponseError(message + " The endpoint is not serving the file; try another mirror.")
    raise NetworkError(message + " Check the connection and run the download again; it resumes.")


def _prepare_part(job: FileJob, digest: _Digest | None, control: FileControl) -> _Digest:
    """Load the resume state, discarding a .part that belongs to other bytes, and hash its prefix."""
    have = job.part.stat().st_size if job.part.exists() else 0
    if digest is not None and digest.offset == have:
        return digest
    state = read_json(job.state_path)
    same = isinstance(state, dict) and state.get("size") == job.size and state.get("sha256") == job.sha256
    if have and (not same or have > job.size):
        log.info("%s: discarding a partial file that does not match this revision", job.label)
        discard_partial(job)
        have = 0
    digest = _Digest(size=job.size, git_sha1=job.git_sha1)
    if have:
        # Re-hash what is on disk so the final check still covers every byte (the process may have died).
        with job.part.open("rb") as handle:
            while chunk := handle.read(4 << 20):
                control.raise_if_stopped(job)
                digest.update(chunk)
    return digest


def _check_free_space(job: FileJob, offset: int, settings: TransferSettings) -> None:
    needed = job.size - offset
    free = free_bytes(job.part.parent)
    if needed + settings.disk_margin_bytes > free:
        raise DiskFullError(
            f"Not enough space for {job.label}: it needs {format_bytes(needed)} more plus a "
            f"{format_bytes(settings.disk_margin_bytes)} margin, but {job.part.parent} has only "
            f"{format_bytes(free)} free. Free up space or choose another models location."
        )


def _attempt(
    job: FileJob,
    settings: TransferSettings,
    control: FileControl,
    digest: _Digest,
    on_progress: ProgressFn,
    tally: _Tally,
) -> None:
    url, endpoint = job.url_for()
    state = read_json(job.state_path) if digest.offset else None
    headers: dict[str, str] = {}
    if digest.offset:
        headers["Range"] = f"bytes={digest.offset}-"
        # If-Range only with the validator this endpoint gave us: a different mirror has its own ETags,
        # and the final sha256 check catches a changed file anyway.
        if isinstance(state, dict) and state.get("endpoint") == endpoint:
            etag = state.get("etag")
            if etag and not etag.startswith("W/"):
                headers["If-Range"] = etag
            elif state.get("last_modified"):
                headers["If-Range"] = state["last_modified"]
    control.aborter.reset()
    if control.should_stop():
        control.raise_if_stopped(job)
    try:
        opened = open_get(
            url, headers, timeout=settings.stall_timeout_s, token=job.token, aborter=control.aborter
        )
    except OSError as e:
        control.raise_if_stopped(job)
        raise _Retry(f"could not connect ({e})") from e
    try:
        start = _check_response(job, opened, digest.offset, endpoint)
        if start == 0 and digest.offset:
            log.info("%s: %s ignored the range request; restarting the file", job.label, endpoint)
            discard_partial(job)
            digest.reset()
        atomic_write_json(
            job.state_path,
            {
                "size": job.size,
                "sha256": job.sha256,
                "endpoint": endpoint,
                "etag": opened.response.getheader("ETag"),
                "last_modified": opened.response.getheader("Last-Modified"),
            },
        )
        _stream(job, settings, control, opened, digest, on_progress, tally, endpoint)
    finally:
        control.aborter.attach(None)
        opened.close()


def _check_response(job: FileJob, opened: OpenResponse, offset: int, endpoint: str) -> int:
    """Validate status and headers; return the offset the body starts at (0 or ``offset``)."""
    response = opened.response
    status = response.status
    if status == 416:
        raise _Retry(f"{endpoint} refused the resume range (HTTP 416); restarting the file", restart=True)
    if status in (401, 403):
        raise AuthRequiredError(
            f"{endpoint} refused access to {job.label} (HTTP {status}). If the repository is gated, accept "
            "its licence on the Hugging Face website and enter a token with read access.",
            repo_id=job.label.split(":")[0],
        )
    if status == 404:
        raise RemoteNotFoundError(f"{endpoint} has no file for {job.label} (HTTP 404). Check the endpoint.")
    if status in (429, 500, 502, 503, 504) or status >= 500:
        raise _Retry(f"{endpoint} answered HTTP {status}")
    if status not in (200, 206):
        raise _Retry(f"{endpoint} answered HTTP {status}", bad_response=True)
    content_type = (response.getheader("Content-Type") or "").lower()
    if content_type.startswith("text/html") and not job.dest.name.endswith((".html", ".htm")):
        raise _Retry(f"{endpoint} sent an HTML page instead of the file", bad_response=True)
    length = response.getheader("Content-Length")
    if status == 206:
        start, total = _content_range(response.getheader("Content-Range"))
        if start != offset or total not in (None, job.size):
            raise _Retry(
                f"{endpoint} sent the wrong range ({start} of {total})", bad_response=True, restart=True
            )
        expected = job.size - offset
    else:
        start, expected = 0, job.size
    if length is not None and int(length) != expected:
        raise _Retry(
            f"{endpoint} announced {int(length) + start} bytes but the hub lists {job.size}",
            bad_response=True,
        )
    return start


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    # "bytes 100-199/1000" (RFC 9110 14.4); the total may be "*".
    try:
        _unit, rest = (value or "").split(" ", 1)
        span, total = rest.split("/")
        return int(span.split("-")[0]), None if total == "*" else int(total)
    except ValueError:
        return None, None


def _stream(
    job: FileJob,
    settings: TransferSettings,
    control: FileControl,
    opened: OpenResponse,
    digest: _Digest,
    on_progress: ProgressFn,
    tally: _Tally,
    endpoint: str,
) -> None:
    response = opened.response
    on_disk = digest.offset
    first = on_disk == 0
    pipe = _HashPipe(digest)
    last_report = 0.0
    flushed = on_disk
    try:
        with job.part.open("ab", buffering=0) as handle:
            while on_disk < job.size:
                try:
                    data = response.read1(min(settings.chunk_bytes, job.size - on_disk))
                except TimeoutError as e:
                    control.raise_if_stopped(job)
                    raise _Retry(f"no data for {settings.stall_timeout_s:g} s (stalled)") from e
                except OSError as e:
                    control.raise_if_stopped(job)
                    raise _Retry(f"connection lost ({e})") from e
                if not data:
                    control.raise_if_stopped(job)
                    raise _Retry(f"connection closed after {on_disk} of {job.size} bytes")
                if first and data[:64].lstrip().lower().startswith(_HTML_STARTS):
                    raise _Retry(f"{endpoint} sent an HTML page instead of the file", bad_response=True)
                first = False
                try:
                    _write_chunk(handle, data)
                except OSError as e:
                    if is_disk_full(e):
                        raise DiskFullError(
                            f"The drive is full while writing {job.label}: {format_bytes(on_disk)} of "
                            f"{format_bytes(job.size)} are kept in {job.part}. Free up space (about "
                            f"{format_bytes(job.size - on_disk)} more is needed) and start the download "
                            "again; it resumes."
                        ) from e
                    raise
                pipe.feed(data)
                on_disk += len(data)
                tally.received += len(data)
                if on_disk - flushed >= _WRITEBACK_BYTES:
                    flushed = _start_writeback(handle, flushed, on_disk)
                now = time.monotonic()
                if now - last_report > 0.1:
                    last_report = now
                    on_progress(on_disk, tally.received)
                control.raise_if_stopped(job)
            if response.read1(1):
                raise _Retry(
                    f"{endpoint} sent more than the {job.size} bytes the hub lists", bad_response=True
                )
    finally:
        pipe.close()
    on_progress(on_disk, tally.received)


def _start_writeback(handle: BinaryIO, flushed: int, on_disk: int) -> int:
    """Start writing the newest bytes to disk in the background and drop the older, already-clean ones
    from the page cache (Linux: POSIX_FADV_DONTNEED starts async writeback of dirty pages).

    Without this a 24 GB download fills the page cache with dirty pages and the final fsync waits for all
    of them; with it the disk writes overlap the transfer. Returns the new flushed offset.
    """
    if hasattr(os, "posix_fadvise"):
        start = max(0, flushed - _WRITEBACK_BYTES)
        os.posix_fadvise(handle.fileno(), start, on_disk - start, os.POSIX_FADV_DONTNEED)
    return on_disk


def _finish(job: FileJob, digest: _Digest) -> tuple[str, float]:
    """Compare the hashes, then move the file into place atomically; returns the sha256 and the seconds
    the fsync took."""
    if digest.offset != job.size:
        raise _Retry(
            f"the file has {digest.offset} bytes, the hub lists {job.size}", bad_response=True, restart=True
        )
    if job.sha256 is not None and digest.sha256.hexdigest() != job.sha256:
        raise _Retry("the downloaded bytes do not match the hub's sha256", bad_response=True, restart=True)
    if job.git_sha1 is not None and digest.sha1 is not None and digest.sha1.hexdigest() != job.git_sha1:
        raise _Retry(
            "the downloaded bytes do not match the hub's git blob id", bad_response=True, restart=True
        )
    if job.sha256 is None and job.git_sha1 is None:
        log.warning("%s: the endpoint gave no hash; only the size was checked", job.label)
    if not job.part.exists():
        job.part.touch()
    flush_start = time.monotonic()
    with job.part.open("rb+") as handle:
        os.fsync(handle.fileno())
    flush_s = time.monotonic() - flush_start
    job.dest.parent.mkdir(parents=True, exist_ok=True)
    check_regular_target(job.dest)
    try:
        job.part.replace(job.dest)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        # A repair into a folder imported in place can cross drives: copy next to the target first,
        # so the final step is still an atomic rename on the target's drive.
        staging = job.dest.with_name(job.dest.name + ".dit360-tmp")
        shutil.copyfile(job.part, staging)
        with staging.open("rb+") as handle:
            os.fsync(handle.fileno())
        staging.replace(job.dest)
        job.part.unlink()
    fsync_dir(job.dest.parent)
    job.state_path.unlink(missing_ok=True)
    return digest.sha256.hexdigest(), flush_s
