"""Saving a finished panorama so that it is never lost: the one path for the CLI, the app's worker and the
cluster driver.

``save_result`` writes, in this order: the file the person named (``--output``), the library entry, then any
further copies the front end asks for (the CLI's ``--save-latent``). A failure of one does not stop the
others. When the picture reached neither the named file nor the library, it goes to the recovery folder
(``history/recovery.py``), and the report says where. Every PNG gets its JSON from ``Result.file_metadata``
(``panorama/result.py``), so one result is recorded alike wherever and by whichever front end it is saved.

Nothing here raises for a write that failed: each failure is kept in the report as the typed error it was,
which is what the front ends turn into words and exit codes. A full disk is ``LibraryDiskFullError`` (the
library) or an ``OSError`` with ``ENOSPC`` (a named file, the recovery folder): exit 6 on the command line
(``cli/exit_codes.py``), "the disk is full" in the app. A read-only library is ``LibraryReadOnlyError``
(exit 2).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dit360_desktop.history import recovery
from dit360_desktop.history.entry import Entry
from dit360_desktop.history.errors import EntryNotFoundError
from dit360_desktop.history.library import Library
from dit360_desktop.panorama import guide_copies, imageio
from dit360_desktop.panorama.errors import DiT360Error
from dit360_desktop.panorama.result import JOB_ID_KEY, Result

log = logging.getLogger(__name__)

# A further copy: (what to call it in a message, e.g. "--save-latent"; the writer, returning the path).
ExtraCopy = tuple[str, Callable[[Result], Path]]


def saved_job_ids(library: Library) -> dict[str, int]:
    """Job id -> entry id for every entry that was saved with a job id."""
    return library.ids_by_metadata(JOB_ID_KEY)


@dataclass(frozen=True)
class JobKey:
    """A batch job's result is saved once per job id, however many times it is delivered: a worker that
    finished just as it was declared lost, a batch file run again. The job id is kept in the entry's
    metadata, so the library stays at one entry per job."""

    job_id: str
    # Job id -> library entry id of every job already saved (``saved_job_ids``); updated here.
    saved: dict[str, int]
    # Recorded next to the job id (which worker ran it, which attempt).
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class SaveReport:
    # Every file written, in order: the named file, the library's image, the further copies.
    written: list[Path] = field(default_factory=list)
    entry: Entry | None = None
    # (what, error) for each copy that could not be written, in order.
    failures: list[tuple[str, BaseException]] = field(default_factory=list)
    recovered: Path | None = None
    # The batch job was in the library already: ``entry`` is the earlier one, and nothing was written.
    already_saved: bool = False

    @property
    def error(self) -> BaseException | None:
        return self.failures[0][1] if self.failures else None

    @property
    def error_text(self) -> str | None:
        error = self.error
        return None if error is None else (str(error) or type(error).__name__)


def save_result(
    result: Result,
    *,
    library: Library | None = None,
    library_error: BaseException | None = None,
    output: Path | None = None,
    extra_copies: Sequence[ExtraCopy] = (),
    job: JobKey | None = None,
) -> SaveReport:
    """Write ``result`` to ``output`` and ``library`` (either may be None), then ``extra_copies``.

    ``library_error`` is why the library could not even be opened: the result counts as refused by it.
    """
    report = SaveReport()
    if job is not None:
        earlier = _earlier_entry(library, job)
        if earlier is not None:
            report.entry, report.already_saved = earlier, True
            return report
        result = dataclasses.replace(
            result, metadata={**result.metadata, JOB_ID_KEY: job.job_id, **job.extra}
        )
    guides = guide_copies.guide_record(result.request)
    if guides:
        # The guide pictures go beside each saved PNG; the metadata names them (panorama/guide_copies.py).
        result = dataclasses.replace(result, metadata={**result.metadata, guide_copies.GUIDES_KEY: guides})
    picture_kept = False
    if output is not None and _attempt(
        report, "--output", lambda: imageio.save_png(result.image, output, result.file_metadata())
    ):
        picture_kept = True
        _copy_guides(report, "--output", result, output)
    if library is not None:
        if _attempt(report, "library", lambda: _save_to_library(report, library, result, job)):
            picture_kept = True
            _copy_guides(report, "library", result, report.entry.path)
    elif library_error is not None:
        report.failures.append(("library", library_error))
    for what, write in extra_copies:
        _attempt(report, what, lambda write=write: write(result))
    if not picture_kept:
        try:
            report.recovered = recovery.write_recovery_result(result)
        except OSError as error:
            log.exception("The recovery copy could not be written either")
            report.failures.append(("recovery folder", error))
        else:
            _copy_guides(report, "recovery folder", result, report.recovered)
    return report


def _copy_guides(report: SaveReport, what: str, result: Result, png: Path) -> None:
    """The guide pictures beside a PNG just written; a failure is reported, the PNG stays."""
    try:
        report.written += guide_copies.write_guide_copies(result.request, png)
    except (DiT360Error, OSError) as error:
        log.warning("The guide pictures could not be copied beside %s: %s", png, error)
        report.failures.append((f"guide pictures ({what})", error))


def _earlier_entry(library: Library | None, job: JobKey) -> Entry | None:
    if library is None or job.job_id not in job.saved:
        return None
    try:
        return library.get(job.saved[job.job_id])
    except EntryNotFoundError:
        # Deleted since the batch started: the job counts as not done.
        del job.saved[job.job_id]
        return None


def _save_to_library(report: SaveReport, library: Library, result: Result, job: JobKey | None) -> Path:
    report.entry = library.save(result)
    if job is not None:
        job.saved[job.job_id] = report.entry.id
    return report.entry.path


def _attempt(report: SaveReport, what: str, write: Callable[[], Path]) -> bool:
    try:
        report.written.append(write())
    except (DiT360Error, OSError) as error:
        log.warning("Saving to %s failed: %s", what, error)
        report.failures.append((what, error))
        return False
    return True


class LibraryOnDemand:
    """The library, opened by the thread that first saves into it (an SQLite connection belongs to its
    thread), or why it could not be opened; ``open_library`` None means results are not kept."""

    def __init__(self, open_library: Callable[[], Library] | None) -> None:
        self._open_library = open_library
        self._library: Library | None = None
        self._tried = False
        self.error: BaseException | None = None

    @property
    def configured(self) -> bool:
        return self._open_library is not None

    def get(self) -> Library | None:
        if not self._tried and self._open_library is not None:
            self._tried = True
            try:
                self._library = self._open_library()
            except Exception as e:
                log.exception("The history library could not be opened; results go to the recovery folder")
                self.error = e
        return self._library

    def close(self) -> None:
        if self._library is not None:
            self._library.close()
        self._library = None
        self._tried = False
        self.error = None
