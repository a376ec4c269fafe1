"""Idempotent saves for batch jobs: a job id stored in the entry's metadata, checked before saving.

A batch may deliver a result twice (a worker that finished just as it was declared lost, a batch file run
again); the job id is the idempotency key that keeps the library at one entry per job. The save itself is
the ordinary ``Library.save``, the same path as a local run.
"""

from __future__ import annotations

import dataclasses
import sqlite3

from dit360_desktop.history.entry import Entry
from dit360_desktop.history.errors import EntryNotFoundError, LibraryError
from dit360_desktop.history.library import Library
from dit360_desktop.panorama.result import Result

JOB_ID_KEY = "job_id"


def saved_job_ids(library: Library) -> dict[str, int]:
    """Job id -> entry id for every entry that was saved with a job id."""
    sql = (
        f"SELECT id, json_extract(metadata, '$.{JOB_ID_KEY}') FROM entries "
        f"WHERE json_extract(metadata, '$.{JOB_ID_KEY}') IS NOT NULL"
    )
    try:
        # The library's own connection and lock (same package): no second writer-capable handle.
        with library._database() as conn:
            rows = conn.execute(sql).fetchall()
    except sqlite3.Error as e:
        raise LibraryError(f"The library index could not be searched for finished jobs ({e}).") from e
    return {str(job_id): int(entry_id) for entry_id, job_id in rows}


def save_job_result(
    library: Library, result: Result, job_id: str, saved: dict[str, int], **extra: object
) -> tuple[Entry, bool]:
    """Save ``result`` under ``job_id`` unless that job is already in ``saved`` (which this updates).

    ``extra`` goes into the metadata next to the job id (who ran it). Returns the entry and whether it
    was written now (False: the earlier entry, untouched).
    """
    if job_id in saved:
        try:
            return library.get(saved[job_id]), False
        except EntryNotFoundError:
            # Deleted since the batch started: the job counts as not done.
            del saved[job_id]
    metadata = {**result.metadata, JOB_ID_KEY: job_id, **extra}
    entry = library.save(dataclasses.replace(result, metadata=metadata))
    saved[job_id] = entry.id
    return entry, True
