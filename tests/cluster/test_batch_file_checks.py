"""`dit360 batch` checks the jobs file whole before anything is sent: its kind and size before reading,
every line by the single commands' rules. Through the real command; no cluster is reached (the address
is a closed port, and every row must end before a connection is tried)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.cli import main
from dit360_desktop.cluster.jobs import MAX_JOBS_FILE_BYTES

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero")

NOWHERE = "127.0.0.1:9"  # the discard port: nothing listens on it here


def panorama(folder: Path) -> Path:
    path = folder / "pano.png"
    Image.fromarray(np.full((64, 128, 3), 90, np.uint8)).save(path)
    return path


def mask(folder: Path, values: np.ndarray) -> Path:
    path = folder / "mask.png"
    Image.fromarray(values).save(path)
    return path


def jobs_file(folder: Path, *objects: object) -> Path:
    path = folder / "jobs.jsonl"
    path.write_text("".join(json.dumps(o) + "\n" for o in objects), encoding="utf-8")
    return path


def deep_json(folder: Path) -> Path:
    path = folder / "deep.jsonl"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    return path


def too_large(folder: Path) -> Path:
    path = folder / "large.jsonl"
    with path.open("wb") as handle:
        handle.truncate(MAX_JOBS_FILE_BYTES + 1)  # sparse: no disk used
    return path


def edit_job(folder: Path, values: np.ndarray) -> Path:
    return jobs_file(
        folder,
        {"prompt": "a", "width": 128, "height": 64},
        {
            "prompt": "b",
            "init_image": str(panorama(folder)),
            "mask_image": str(mask(folder, values)),
            "width": 128,
            "height": 64,
        },
    )


def extra_lora_job(folder: Path, lora: Path) -> Path:
    return jobs_file(folder, {"prompt": "a", "extra_loras": [{"path": str(lora), "scale": 0.5}]})


CASES = {
    "dev-zero": (lambda folder: Path("/dev/zero"), "a device"),
    "folder": (lambda folder: folder, "a folder"),
    "missing": (lambda folder: folder / "none.jsonl", "does not exist"),
    "deep-json": (deep_json, "nested too deeply"),
    "too-large": (too_large, "split it"),
    "not-utf8": (
        lambda folder: (folder / "b.jsonl").write_bytes(b"\xff\xfe{}") and folder / "b.jsonl",
        "UTF-8",
    ),
    "all-black-mask": (lambda folder: edit_job(folder, np.zeros((64, 128), np.uint8)), "line 2"),
    "wrong-aspect-mask": (lambda folder: edit_job(folder, np.full((64, 64), 255, np.uint8)), "same aspect"),
    "missing-extra-lora": (
        lambda folder: extra_lora_job(folder, folder / "style.safetensors"),
        "does not exist",
    ),
    "extra-lora-folder": (lambda folder: extra_lora_job(folder, folder), "give a .safetensors file"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_jobs_files_exit_2_before_any_connection(case, tmp_path, capsys):
    make, fragment = CASES[case]
    path = make(tmp_path)
    code = main(["batch", str(path), "--cluster", NOWHERE])
    err = capsys.readouterr().err
    assert code == 2, err
    assert fragment in err and "Nothing answers" not in err and "unexpected" not in err


def test_all_black_mask_line_is_named(tmp_path, capsys):
    path = edit_job(tmp_path, np.zeros((64, 128), np.uint8))
    assert main(["batch", str(path), "--cluster", NOWHERE]) == 2
    err = capsys.readouterr().err
    assert "1 bad line(s)" in err and "line 2" in err and "nothing to regenerate" in err


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "jobs.jsonl"
    os.mkfifo(fifo)
    # A subprocess, so that a regression (blocking on the open) fails the test instead of hanging it.
    completed = subprocess.run(
        [sys.executable, "-m", "dit360_desktop.cli", "batch", str(fifo), "--cluster", NOWHERE],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2, completed.stderr
    assert "FIFO" in completed.stderr


def test_extra_lora_files_travel_with_the_job_and_the_record_keeps_the_drivers_path(tmp_path):
    from dit360_desktop.cluster.jobs import extra_lora_key, parse_jobs, with_original_paths

    lora = tmp_path / "style.safetensors"
    lora.write_bytes(b"not parsed here, only carried")
    job = parse_jobs(extra_lora_job(tmp_path, lora).read_text(), base=tmp_path)[0]
    assert job.files[extra_lora_key(0)] == lora.read_bytes()
    assert job.request.extra_loras == ((str(lora), 0.5),)
    as_run = {
        **job.request.to_dict(),
        "extra_loras": [{"path": "/tmp/worker/extra_lora_0.safetensors", "scale": 0.5}],
    }
    assert with_original_paths(as_run, job.request)["extra_loras"] == [{"path": str(lora), "scale": 0.5}]
