"""Exactly once across processes: a batch run claims each job in the library before it runs it.

Two drivers started on one jobs file and one library (two terminals, the app and the CLI) used to run
every job twice and save duplicate entries: each read "which jobs are done" at its start, and neither saw
the other's work in progress. Now each job id is a row of ``job_claims`` (its primary key is the unique
key), taken in one ``BEGIN IMMEDIATE`` transaction, so of two runs exactly one holds a job; the other
skips it, saying who holds it.

A claim lasts while its owner runs. The owner is ``host:pid:start-time`` of the driver process: on the
same machine a claim whose process has exited (a crash, a kill) is taken over by the next run, so a batch
always resumes; a claim of another machine lapses after ``FOREIGN_CLAIM_S``. A run gives back the claims
of the jobs it did not finish when it ends (a cancel, a lost cluster), and records the entry of each job
it saved, which makes the job done for every later run.

The claims use a connection of their own to the library's index (SQLite serialises the writers; the
library's own connection belongs to its saving threads).
"""

from __future__ import annotations

import logging
import socket
import sqlite3
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import psutil

from dit360_desktop.history.errors import LibraryError
from dit360_desktop.history.search import ids_by_metadata
from dit360_desktop.panorama.result import JOB_ID_KEY

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 15.0
# A claim made on another machine cannot be checked for a live process; it counts for this long.
FOREIGN_CLAIM_S = 24 * 3600.0


class ClaimState(str, Enum):
    CLAIMED = "claimed"  # this run holds the job now
    DONE = "done"  # the job is in the library already
    TAKEN = "taken"  # another run that is still going holds it


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    entry_id: int | None = None
    # Who holds the job, in words, for TAKEN.
    holder: str = ""


def this_process_owner() -> str:
    process = psutil.Process()
    return f"{socket.gethostname()}:{process.pid}:{process.create_time():.3f}"


def owner_alive(owner: str, claimed_at: float, now: float | None = None) -> bool:
    host, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname():
        return (now or time.time()) - claimed_at < FOREIGN_CLAIM_S
    try:
        process = psutil.Process(int(pid_text))
        # The start time tells a live owner from a new process that reuses its pid.
        return f"{process.create_time():.3f}" == started and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, ValueError):
        return False


def describe_owner(owner: str) -> str:
    host, _, rest = owner.partition(":")
    return f"the batch run of process {rest.partition(':')[0]} on {host}"


class JobClaims:
    """The claims of one batch run (one driver) in the library at ``db_path``."""

    def __init__(self, db_path: Path, owner: str | None = None) -> None:
        self.owner = owner or this_process_owner()
        try:
            self._conn = sqlite3.connect(
                str(db_path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as e:
            raise LibraryError(
                f"The library index {db_path} could not be opened for batch claims ({e})."
            ) from e

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> JobClaims:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def claim(self, job_ids: list[str]) -> dict[str, Claim]:
        """Claim every job of ``job_ids`` that is neither done nor held by a live run, in one transaction."""
        claims: dict[str, Claim] = {}
        now = time.time()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                # Entries saved with a job id (also those saved before claims existed).
                done = ids_by_metadata(self._conn, JOB_ID_KEY)
                for job_id in job_ids:
                    claims[job_id] = self._claim_one(job_id, done, now)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise LibraryError(f"The batch jobs could not be claimed in the library index ({e}).") from e
        return claims

    def _claim_one(self, job_id: str, done: dict[str, int], now: float) -> Claim:
        row = self._conn.execute(
            "SELECT owner, claimed_at, entry_id FROM job_claims WHERE job_id = ?", (job_id,)
        ).fetchone()
        entry_id = done.get(job_id)
        if entry_id is None and row is not None and row[2] is not None:
            exists = self._conn.execute("SELECT 1 FROM entries WHERE id = ?", (row[2],)).fetchone()
            entry_id = row[2] if exists else None
        if entry_id is not None:
            return Claim(ClaimState.DONE, entry_id=int(entry_id))
        if row is not None and row[0] != self.owner and owner_alive(row[0], row[1], now):
            return Claim(ClaimState.TAKEN, holder=describe_owner(row[0]))
        self._conn.execute(
            "INSERT INTO job_claims(job_id, owner, claimed_at, entry_id) VALUES (?, ?, ?, NULL) "
            "ON CONFLICT(job_id) DO UPDATE SET owner = excluded.owner, claimed_at = excluded.claimed_at, "
            "entry_id = NULL",
            (job_id, self.owner, now),
        )
        return Claim(ClaimState.CLAIMED)

    def record(self, job_id: str, entry_id: int) -> None:
        """The job became ``entry_id``: done for every later run."""
        self._execute(
            "UPDATE job_claims SET entry_id = ? WHERE job_id = ? AND owner = ?",
            (entry_id, job_id, self.owner),
        )

    def release_unfinished(self) -> None:
        """Give back this run's claims of jobs it did not save, so that the next run takes them."""
        self._execute("DELETE FROM job_claims WHERE owner = ? AND entry_id IS NULL", (self.owner,))

    def _execute(self, sql: str, parameters: tuple) -> None:
        try:
            self._conn.execute(sql, parameters)
        except sqlite3.Error as e:
            # The results themselves are saved; a claim left behind lapses with its process.
            log.warning("The library's batch claims could not be updated: %s", e)
