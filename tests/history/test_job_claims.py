"""Exactly once across processes: of two batch runs on one library, one holds each job; a dead run's
claims are taken over; jobs saved before claims existed count as done; an old library upgrades."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from history_factory import make_result

from dit360_desktop.history import schema
from dit360_desktop.history.job_claims import ClaimState, JobClaims
from dit360_desktop.history.library import DB_NAME, Library
from dit360_desktop.panorama.result import JOB_ID_KEY

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from dit360_desktop.history.job_claims import JobClaims
    claims = JobClaims(Path(sys.argv[1]))
    held = claims.claim(sys.argv[2:])
    print(" ".join(f"{job}={claim.state.value}" for job, claim in held.items()), flush=True)
    sys.stdin.read()  # hold the claims until told to go
    """
)


@pytest.fixture
def library(tmp_path: Path) -> Path:
    folder = tmp_path / "library"
    Library.open(folder).close()
    return folder


def spawn(library: Path, *jobs: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(library / DB_NAME), *jobs],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def hold(library: Path, *jobs: str) -> tuple[subprocess.Popen, str]:
    process = spawn(library, *jobs)
    return process, process.stdout.readline().strip()


def test_a_second_run_skips_what_a_live_run_holds_and_takes_it_once_that_run_is_gone(library):
    other, answer = hold(library, "a", "b")
    try:
        assert answer == "a=claimed b=claimed"
        with JobClaims(library / DB_NAME) as mine:
            held = mine.claim(["a", "b", "c"])
            assert [held[j].state for j in "abc"] == [ClaimState.TAKEN, ClaimState.TAKEN, ClaimState.CLAIMED]
            assert f"process {other.pid}" in held["a"].holder
    finally:
        other.kill()
        other.wait(30)
    # The holder died without giving its claims back (a crash): the next run takes them over.
    with JobClaims(library / DB_NAME) as mine:
        held = mine.claim(["a", "b"])
        assert {claim.state for claim in held.values()} == {ClaimState.CLAIMED}


def test_released_claims_are_free_and_saved_jobs_are_done(library):
    with JobClaims(library / DB_NAME) as first:
        first.claim(["a", "b"])
        first.release_unfinished()
    with Library.open(library) as lib:
        result = make_result()
        entry = lib.save(dataclasses.replace(result, metadata={**result.metadata, JOB_ID_KEY: "b"}))
    with JobClaims(library / DB_NAME) as second:
        held = second.claim(["a", "b"])
    assert held["a"].state is ClaimState.CLAIMED
    assert (held["b"].state, held["b"].entry_id) == (ClaimState.DONE, entry.id)
    # The library answers the same question the same way (one query, ``history/search.py``), and a key
    # that is not a plain name never reaches the JSON path.
    with Library.open(library) as lib:
        assert lib.ids_by_metadata(JOB_ID_KEY) == {"b": entry.id}
        with pytest.raises(ValueError, match="not a metadata key"):
            lib.ids_by_metadata("job') OR 1=1 --")


def test_many_processes_claiming_at_once_hold_each_job_exactly_once(library):
    jobs = [f"job-{i}" for i in range(40)]
    # All four start before any answer is read, so their claims race.
    processes = [spawn(library, *jobs) for _ in range(4)]
    holders = [(process, process.stdout.readline().strip()) for process in processes]
    try:
        per_job = [sum(f"{job}=claimed" in answer.split() for _, answer in holders) for job in jobs]
        assert per_job == [1] * len(jobs), [answer for _, answer in holders]
    finally:
        for process, _ in holders:
            process.stdin.close()
            process.wait(30)


def test_a_version_3_library_upgrades_and_keeps_its_entries(tmp_path):
    folder = tmp_path / "old"
    Library.open(folder).close()
    conn = sqlite3.connect(folder / DB_NAME)
    conn.execute("DROP TABLE job_claims")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    with Library.open(folder) as lib:
        assert lib.count() == 0
    conn = sqlite3.connect(folder / DB_NAME)
    try:
        assert schema.schema_version(conn) == schema.CURRENT_VERSION == 4
        assert conn.execute("SELECT COUNT(*) FROM job_claims").fetchone() == (0,)
    finally:
        conn.close()
