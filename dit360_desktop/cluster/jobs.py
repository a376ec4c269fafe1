"""Batch jobs: requests read from a JSON-lines file, their idempotency keys, and the run's summary.

A job's id is the key that makes a batch resumable: the driver stores it in each saved entry's metadata
and skips a job whose id is already in the library. Without an explicit ``job_id`` it is derived from
the request as validated (defaults filled in), the bytes of its image files, and how many identical
requests came before it in the file, so re-running the same file gives the same ids, and forty identical
lines (forty variations of a random seed) stay forty jobs.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import stat
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from dit360_desktop.cluster.errors import BatchFileError
from dit360_desktop.panorama.errors import ImageLoadError, RequestError
from dit360_desktop.panorama.fileio import file_kind
from dit360_desktop.panorama.request import GenerationRequest

JOB_ID_FIELD = "job_id"
# Ten thousand jobs with long prompts fit in a few megabytes; a file much larger than this is not a jobs
# file (a disk image, a log), and reading it whole would only run out of memory.
MAX_JOBS_FILE_BYTES = 64 * 2**20
MAX_JOB_ID_CHARS = 200
# How many bad lines one error message lists before it says "and N more".
MAX_REPORTED_LINES = 10
REQUEST_FIELDS = tuple(f.name for f in dataclasses.fields(GenerationRequest))
# Request fields that name a file on the driver's disk: their bytes travel with the job, because a worker
# on another machine cannot see the path.
FILE_FIELDS = tuple(name for name in REQUEST_FIELDS if name.endswith("_image"))
# Extra LoRA files travel the same way, under these keys (one per LoRA, by position).
EXTRA_LORA_PREFIX = "extra_lora_"
MAX_SHIPPED_LORA_BYTES = 2 * 2**30


@dataclass(frozen=True)
class BatchJob:
    job_id: str
    # As the driver will record it: image paths are the driver's, the seed may still be None (drawn when
    # the job is sent, so a retry reuses it).
    request: GenerationRequest
    # field name -> the file's bytes, for every FILE_FIELDS entry that is set.
    files: dict[str, bytes] = field(default_factory=dict, repr=False, compare=False)
    line: int | None = None


def job_id_for(request: GenerationRequest, files: dict[str, bytes], occurrence: int) -> str:
    """Stable id: the request with every default filled in, the image bytes, and the repeat count."""
    described = request.to_dict()
    for name, data in sorted(files.items()):
        described[name] = hashlib.sha256(data).hexdigest()
    text = json.dumps(described, sort_keys=True, separators=(",", ":"))
    return f"{hashlib.sha256(text.encode()).hexdigest()[:20]}-{occurrence}"


def read_job_files(request: GenerationRequest, base: Path, cache: dict[Path, bytes]) -> tuple:
    """The request with its image paths made absolute, and those files' bytes (read once per path)."""
    from dit360_desktop.panorama.imageio import load_user_image

    changes: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for name in FILE_FIELDS:
        value = getattr(request, name)
        if value is None:
            continue
        path = Path(value).expanduser()
        path = path if path.is_absolute() else base / path
        if path not in cache:
            # Refused here, on the driver, with the line number, rather than on a worker minutes later.
            load_user_image(str(path))
            try:
                cache[path] = path.read_bytes()
            except OSError as e:
                raise ImageLoadError(f"{path} could not be read ({e.strerror or e}).") from e
        changes[name] = str(path)
        files[name] = cache[path]
    request = request.replace(**changes) if changes else request
    if request.extra_loras:
        request = _ship_extra_loras(request, base, cache, files)
    if request.mask_image is not None and request.init_image is not None:
        check_edit_inputs(request)
    return request, files


def extra_lora_key(index: int) -> str:
    """The ``files`` key of a job's ``index``-th extra LoRA (``cluster/worker.py`` writes it back)."""
    return f"{EXTRA_LORA_PREFIX}{index}"


def _ship_extra_loras(
    request: GenerationRequest, base: Path, cache: dict[Path, bytes], files: dict
) -> GenerationRequest:
    """Extra LoRAs travel with the job like its pictures: a worker on another machine cannot see the
    driver's path. Only single ``.safetensors`` files can travel; a folder is refused here, with the line."""
    pairs = []
    for index, (value, scale) in enumerate(request.extra_loras):
        path = Path(value).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.is_file() or path.suffix.lower() != ".safetensors":
            what = "does not exist" if not path.exists() else "is not a .safetensors file"
            raise RequestError(
                "extra_loras",
                f"{path} {what}; a batch sends each extra LoRA to the workers, so give a .safetensors file",
            )
        if path not in cache:
            size = path.stat().st_size
            if size > MAX_SHIPPED_LORA_BYTES:
                raise RequestError(
                    "extra_loras",
                    f"{path} is {size / 2**30:.1f} GiB, more than the "
                    f"{MAX_SHIPPED_LORA_BYTES // 2**30} GiB a batch sends with each job",
                )
            try:
                cache[path] = path.read_bytes()
            except OSError as e:
                raise RequestError("extra_loras", f"{path} could not be read ({e.strerror or e})") from e
        files[extra_lora_key(index)] = cache[path]
        pairs.append((str(path), scale))
    return request.replace(extra_loras=tuple(pairs))


def check_edit_inputs(request: GenerationRequest) -> None:
    """An edit job's mask against its picture, by the rules ``dit360 edit`` applies (``load_mask``: the
    same aspect, something to regenerate), so that a bad mask is a bad line, not a failed job."""
    from dit360_desktop.panorama.mask import load_mask
    from dit360_desktop.panorama.userimage import load_user_image

    size = load_user_image(request.init_image).size
    load_mask(request.mask_image, size)


def parse_job_line(text: str) -> tuple[GenerationRequest, str | None]:
    """One JSON object with the request's own field names (plus an optional ``job_id``)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg} at column {e.colno})") from e
    except RecursionError as e:
        raise ValueError("nested too deeply to be a request (one flat JSON object per line)") from e
    if not isinstance(data, dict):
        raise ValueError(f"must be a JSON object with the request's fields, not {type(data).__name__}")
    explicit = data.pop(JOB_ID_FIELD, None)
    if explicit is not None and (not isinstance(explicit, str) or not explicit.strip()):
        raise ValueError(f"{JOB_ID_FIELD} must be a non-empty string")
    if explicit is not None and len(explicit) > MAX_JOB_ID_CHARS:
        raise ValueError(f"{JOB_ID_FIELD} must be at most {MAX_JOB_ID_CHARS} characters")
    unknown = sorted(set(data) - set(REQUEST_FIELDS))
    if unknown:
        # A typo ("stpes") would otherwise be ignored silently and the job run with the default.
        name = unknown[0]
        close = difflib.get_close_matches(name, REQUEST_FIELDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown field {name!r}{hint}")
    try:
        request = GenerationRequest.from_dict(data)
    except TypeError as e:
        raise ValueError(str(e)) from e
    request.validate()
    return request, explicit


def parse_jobs(text: str, *, source: str = "jobs", base: Path | None = None) -> list[BatchJob]:
    """Every line a job; blank lines are skipped. All bad lines are reported in one BatchFileError."""
    base = base or Path.cwd()
    jobs: list[BatchJob] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    ids: dict[str, int] = {}
    cache: dict[Path, bytes] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            request, explicit = parse_job_line(line)
            request, files = read_job_files(request, base, cache)
        except (ValueError, RequestError, ImageLoadError) as e:
            problems.append(f"line {number}: {e}")
            continue
        if explicit is None:
            digest = job_id_for(request, files, 0)
            occurrence = seen.get(digest, 0)
            seen[digest] = occurrence + 1
            job_id = job_id_for(request, files, occurrence)
        else:
            job_id = explicit.strip()
        if job_id in ids:
            problems.append(f"line {number}: job_id {job_id!r} is already used on line {ids[job_id]}")
            continue
        ids[job_id] = number
        jobs.append(BatchJob(job_id, request, files, number))
    if problems:
        shown = problems[:MAX_REPORTED_LINES]
        more = len(problems) - len(shown)
        tail = f"\n  … and {more} more bad line(s)" if more else ""
        raise BatchFileError(f"{source} has {len(problems)} bad line(s):\n  " + "\n  ".join(shown) + tail)
    if not jobs:
        raise BatchFileError(f'{source} has no jobs (one JSON object per line, e.g. {{"prompt": "…"}}).')
    return jobs


def read_jobs_file(path: Path) -> list[BatchJob]:
    """Parse a JSON-lines file; relative image paths are relative to the file's folder."""
    path = Path(path).expanduser()
    try:
        # Kind and size first: a FIFO would block the read forever, /dev/zero never ends.
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise BatchFileError(
                f"The jobs file {path} is {file_kind(info.st_mode)}, not a regular file; "
                "give a JSON-lines file."
            )
        if info.st_size > MAX_JOBS_FILE_BYTES:
            raise BatchFileError(
                f"The jobs file {path} is {info.st_size / 2**20:.0f} MiB, more than the "
                f"{MAX_JOBS_FILE_BYTES // 2**20} MiB a jobs file may have; split it into several files."
            )
        with path.open("rb") as handle:
            data = handle.read(MAX_JOBS_FILE_BYTES + 1)
        if len(data) > MAX_JOBS_FILE_BYTES:
            raise BatchFileError(
                f"The jobs file {path} grew past {MAX_JOBS_FILE_BYTES // 2**20} MiB while read."
            )
        text = data.decode("utf-8")
    except FileNotFoundError as e:
        raise BatchFileError(f"The jobs file {path} does not exist.") from e
    except UnicodeDecodeError as e:
        raise BatchFileError(f"The jobs file {path} is not UTF-8 text ({e.reason} at byte {e.start}).") from e
    except OSError as e:
        raise BatchFileError(f"The jobs file {path} could not be read ({e.strerror or e}).") from e
    return parse_jobs(text, source=str(path), base=path.resolve().parent)


class JobStatus(str, Enum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    # Still queued or running when the cluster went away; the app hands these back to the local queue.
    UNFINISHED = "unfinished"


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    status: JobStatus
    reason: str = ""
    path: str | None = None
    worker: str = ""
    attempts: int = 0
    line: int | None = None


@dataclass
class BatchSummary:
    outcomes: list[JobOutcome] = field(default_factory=list)
    # A problem with the run as a whole (the cluster went away, no usable worker), else "".
    error: str = ""

    def by_status(self, status: JobStatus) -> list[JobOutcome]:
        return [o for o in self.outcomes if o.status is status]

    def counts(self) -> dict[str, int]:
        return {status.value: len(self.by_status(status)) for status in JobStatus}

    @property
    def ok(self) -> bool:
        return not self.error and all(o.status in (JobStatus.DONE, JobStatus.SKIPPED) for o in self.outcomes)


def format_summary(summary: BatchSummary) -> str:
    """A plain-text table: one row per job that did not simply finish, then the totals."""
    rows = [("JOB", "LINE", "STATUS", "WORKER", "DETAIL")]
    for outcome in summary.outcomes:
        detail = outcome.reason if outcome.status is not JobStatus.DONE else (outcome.path or "")
        rows.append(
            (
                outcome.job_id,
                "" if outcome.line is None else str(outcome.line),
                outcome.status.value + (f" ×{outcome.attempts}" if outcome.attempts > 1 else ""),
                outcome.worker,
                detail,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4] for row in rows
    ]
    counts = summary.counts()
    totals = ", ".join(f"{counts[s.value]} {s.value}" for s in JobStatus if counts[s.value] or s in _ALWAYS)
    lines.append(f"{len(summary.outcomes)} job(s): {totals}")
    if summary.error:
        lines.append(f"The run stopped early: {summary.error}")
    return "\n".join(line.rstrip() for line in lines)


_ALWAYS = (JobStatus.DONE, JobStatus.FAILED, JobStatus.SKIPPED)


def with_original_paths(request_dict: dict[str, Any], original: GenerationRequest) -> dict[str, Any]:
    """The request as a worker ran it, with the driver's image paths in place of its temporary copies."""
    restored = dict(request_dict)
    for name in FILE_FIELDS:
        if name in restored:
            restored[name] = getattr(original, name)
    if "extra_loras" in restored:
        restored["extra_loras"] = original.to_dict()["extra_loras"]
    return restored
