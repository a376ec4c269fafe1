"""Two real `dit360 batch --cluster local` drivers on one library, and Ctrl-C to a driver's whole process
group, through the command in subprocesses (the tiny model, CPU workers):

- a second driver started on the same file while the first runs takes none of the first's jobs;
- Ctrl-C to the first driver's process group stops it with exit 130, keeping what it saved;
- the next run finishes the rest, and every job is in the library exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="process groups")]

pytest.importorskip("ray", reason="the cluster extra (ray) is not installed")


def _request(prompt: str, seed: int, lora: Path, steps: int, width: int = 128) -> dict:
    return {
        "prompt": prompt,
        "width": width,
        "height": width // 2,
        "steps": steps,
        "seed": seed,
        "lora_path": str(lora),
        "device": "cpu",
        "dtype": "fp32",
        "tier": "cpu",
    }


def _command(jobs: Path, model: Path, library: Path) -> list[str]:
    return [
        *(sys.executable, "-m", "dit360_desktop.cli", "batch", str(jobs), "--cluster", "local"),
        *("--model", str(model), "--library", str(library), "--cpu", "--workers", "1"),
    ]


def _job_ids(library: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{library / 'library.sqlite3'}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT json_extract(metadata, '$.job_id') FROM entries").fetchall()
    finally:
        conn.close()
    return sorted(row[0] for row in rows)


@pytest.mark.timeout(1500)
def test_a_second_driver_and_ctrl_c_to_the_group_keep_every_job_exactly_once(
    tiny_flux_dir, tiny_lora_dir, tmp_path
):
    lines = [_request("first, quick", 1, tiny_lora_dir, 2)]
    # Long enough (the most steps a request may have, at 256×128) that the first driver is still busy
    # when the second one starts and when Ctrl-C arrives.
    lines += [_request(f"long {i}", 10 + i, tiny_lora_dir, 200, 256) for i in range(3)]
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    library = tmp_path / "library"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}

    first = subprocess.Popen(
        _command(jobs, tiny_flux_dir, library),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, as a terminal's foreground job has
    )
    err_lines: list[str] = []
    saved = threading.Event()

    def read_stderr() -> None:
        for line in first.stderr:
            err_lines.append(line)
            if ": saved " in line:
                saved.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        while not saved.wait(2):
            assert first.poll() is None, "".join(err_lines)[-3000:]
        # The first job is saved and a long one is running: a second driver on the same file and library.
        second = subprocess.run(
            _command(jobs, tiny_flux_dir, library), capture_output=True, text=True, timeout=300, env=env
        )
        assert second.returncode == 0, second.stderr[-3000:]
        assert "1 skipped" not in second.stdout and "4 skipped" in second.stdout, second.stdout
        assert "being run by the batch run of process" in second.stdout
        assert _job_ids(library).count(None) == 0 and len(_job_ids(library)) == 1

        # Ctrl-C as a terminal sends it: to the whole process group, Ray's processes included.
        started = time.monotonic()
        os.killpg(first.pid, signal.SIGINT)
        first_out, _ = first.communicate(timeout=180)
        assert first.returncode == 130, "".join(err_lines)[-3000:]
        assert time.monotonic() - started < 120
        assert "cancelled" in first_out
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(30)
    assert len(_job_ids(library)) == 1

    # The next run resumes: the long jobs run now (made short, so as not to take minutes: new ids, but the
    # first line's id is unchanged and must be skipped).
    lines[1:] = [_request(f"long {i}", 10 + i, tiny_lora_dir, 2) for i in range(3)]
    jobs.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    third = subprocess.run(
        _command(jobs, tiny_flux_dir, library), capture_output=True, text=True, timeout=600, env=env
    )
    assert third.returncode == 0, third.stderr[-3000:]
    assert "3 done" in third.stdout and "1 skipped" in third.stdout, third.stdout
    ids = _job_ids(library)
    assert len(ids) == 4 and len(set(ids)) == 4
