"""Every transfer fault from the issue, against the emulator: the file ends up verified or absent."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
import time
from pathlib import Path

import pytest
from hub_emulator import HubEmulator, Repo, RepoFile

from dit360_desktop.models import fsutil, transfer
from dit360_desktop.models.errors import (
    AuthRequiredError,
    BadResponseError,
    DiskFullError,
    DownloadCancelled,
    RemoteNotFoundError,
    VerificationError,
)
from dit360_desktop.models.transfer import FileControl, FileJob, TransferSettings, download_file

SIZE = 300_000
BLOB = "model.safetensors"


@pytest.fixture
def data() -> bytes:
    return os.urandom(SIZE)


@pytest.fixture
def repo(hub: HubEmulator, data: bytes) -> Repo:
    return hub.add_repo(Repo("test/blob", {BLOB: RepoFile(BLOB, data)}, commit="c" * 40))


def _job(
    hub: HubEmulator, tmp_path: Path, data: bytes, *, token: str | None = None, name: str = BLOB
) -> FileJob:
    url = f"{hub.url}/test/blob/resolve/{'c' * 40}/{name}"
    return FileJob(
        label=f"test: {name}",
        dest=tmp_path / "final" / name,
        part=tmp_path / "partial" / (name + ".part"),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        git_sha1=None,
        url_for=lambda: (url, hub.url),
        token=token,
    )


def _cdn_gets(hub: HubEmulator) -> list[dict[str, str]]:
    return [h for m, p, h in hub.requests if m == "GET" and p.startswith("/cdn/")]


def test_plain_download(hub, repo, data, tmp_path, fast_settings) -> None:
    job = _job(hub, tmp_path, data)
    start = time.monotonic()
    result = download_file(job, fast_settings, FileControl())
    elapsed = time.monotonic() - start
    assert job.dest.read_bytes() == data
    assert result.sha256 == hashlib.sha256(data).hexdigest() and result.received_bytes == SIZE
    assert 0.0 < result.flush_s < elapsed  # the fsync ran, and is only part of the download
    assert not job.part.exists() and not job.state_path.exists()


def test_connection_dropped_mid_file_resumes_with_range(hub, repo, data, tmp_path, fast_settings) -> None:
    hub.add_fault("drop", BLOB, after_bytes=120_000)
    job = _job(hub, tmp_path, data)
    result = download_file(job, fast_settings, FileControl())
    assert job.dest.read_bytes() == data
    gets = _cdn_gets(hub)
    assert len(gets) == 2
    assert gets[1]["Range"] == "bytes=120000-"
    assert gets[1]["If-Range"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert hub.bytes_sent[BLOB] == SIZE  # nothing fetched twice
    assert result.received_bytes == SIZE


def test_stall_detected_and_retried(hub, repo, data, tmp_path, fast_settings) -> None:
    hub.add_fault("stall", BLOB, after_bytes=50_000, stall_s=10.0)
    job = _job(hub, tmp_path, data)
    start = time.monotonic()
    download_file(job, fast_settings, FileControl())
    assert time.monotonic() - start < 5.0  # the 0.5 s stall timeout fired, not the 10 s server stall
    assert job.dest.read_bytes() == data
    assert _cdn_gets(hub)[1]["Range"] == "bytes=50000-"


def test_server_ignoring_range_restarts_cleanly(hub, repo, data, tmp_path, fast_settings) -> None:
    hub.add_fault("drop", BLOB, after_bytes=100_000)
    hub.add_fault("ignore_range", BLOB)
    job = _job(hub, tmp_path, data)
    download_file(job, fast_settings, FileControl())
    assert job.dest.read_bytes() == data
    assert hub.bytes_sent[BLOB] == 100_000 + SIZE


def test_416_restarts_cleanly(hub, repo, data, tmp_path, fast_settings) -> None:
    hub.add_fault("drop", BLOB, after_bytes=100_000)
    hub.add_fault("416", BLOB)
    job = _job(hub, tmp_path, data)
    download_file(job, fast_settings, FileControl())
    assert job.dest.read_bytes() == data
    gets = _cdn_gets(hub)
    assert [g.get("Range") for g in gets] == [None, "bytes=100000-", None]


def test_html_page_with_200_retried_then_succeeds(hub, repo, data, tmp_path, fast_settings) -> None:
    hub.add_fault("html200", BLOB)
    job = _job(hub, tmp_path, data)
    download_file(job, fast_settings, FileControl())
    assert job.dest.read_bytes() == data


def test_html_page_every_time_reported_with_endpoint(hub, repo, data, tmp_path, fast_settings) -> None:
    hub.add_fault("html200", BLOB, times=100)
    job = _job(hub, tmp_path, data)
    with pytest.raises(BadResponseError, match="HTML") as info:
        download_file(job, fast_settings, FileControl())
    assert hub.url in str(info.value)
    assert len(_cdn_gets(hub)) == fast_settings.retries + 1
    assert not job.dest.exists()


def test_wrong_size_reported(hub, repo, data, tmp_path, fast_settings) -> None:
    hub.add_fault("wrong_size", BLOB, times=100)
    job = _job(hub, tmp_path, data)
    with pytest.raises(BadResponseError, match=f"hub lists {SIZE}") as info:
        download_file(job, fast_settings, FileControl())
    assert hub.url in str(info.value)
    assert not job.dest.exists()


def test_401_is_an_auth_error_without_retries(hub, repo, data, tmp_path, fast_settings) -> None:
    hub.add_fault("401", BLOB, times=100)
    job = _job(hub, tmp_path, data)
    with pytest.raises(AuthRequiredError, match="licence"):
        download_file(job, fast_settings, FileControl())
    assert len([p for m, p, _ in hub.requests if "/resolve/" in p]) == 1
    assert not job.dest.exists()


def test_404_is_reported(hub, repo, data, tmp_path, fast_settings) -> None:
    job = _job(hub, tmp_path, data, name="missing.safetensors")
    with pytest.raises(RemoteNotFoundError, match="404"):
        download_file(job, fast_settings, FileControl())


def test_corrupt_byte_in_transit_detected_and_refetched(hub, repo, data, tmp_path, fast_settings) -> None:
    hub.add_fault("corrupt", BLOB, after_bytes=200_000)
    job = _job(hub, tmp_path, data)
    download_file(job, fast_settings, FileControl())
    assert job.dest.read_bytes() == data
    assert hub.bytes_sent[BLOB] == 2 * SIZE


def test_corrupt_every_time_is_a_verification_error(hub, repo, data, tmp_path, fast_settings) -> None:
    hub.add_fault("corrupt", BLOB, after_bytes=10, times=100)
    job = _job(hub, tmp_path, data)
    with pytest.raises(VerificationError, match="sha256"):
        download_file(job, fast_settings, FileControl())
    assert not job.dest.exists() and not job.part.exists()


def test_disk_full_keeps_part_and_resumes(hub, repo, data, tmp_path, fast_settings, monkeypatch) -> None:
    real_write = transfer._write_chunk
    written = {"n": 0}

    def write_until_full(handle, chunk: bytes) -> None:
        if written["n"] + len(chunk) > 150_000:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(handle, chunk)
        written["n"] += len(chunk)

    monkeypatch.setattr(transfer, "_write_chunk", write_until_full)
    hub.throttle_bps = 2_000_000  # small chunks so the failure lands mid-file
    job = _job(hub, tmp_path, data)
    with pytest.raises(DiskFullError, match="resumes") as info:
        download_file(job, fast_settings, FileControl())
    kept = job.part.stat().st_size
    assert 0 < kept <= 150_000 and kept == written["n"]
    assert str(job.part) in str(info.value)
    assert not job.dest.exists()
    monkeypatch.setattr(transfer, "_write_chunk", real_write)
    hub.throttle_bps = None
    result = download_file(job, fast_settings, FileControl())
    assert job.dest.read_bytes() == data
    assert result.received_bytes == SIZE - kept


def test_free_space_checked_before_any_byte(hub, repo, data, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(transfer, "free_bytes", lambda _p: 100_000)
    settings = TransferSettings(disk_margin_bytes=1_000_000)
    job = _job(hub, tmp_path, data)
    with pytest.raises(DiskFullError) as info:
        download_file(job, settings, FileControl())
    message = str(info.value)
    assert "300.0 KB" in message and "1.0 MB margin" in message and "100.0 KB free" in message
    assert hub.bytes_sent == {}


def test_cancel_mid_file_removes_part(hub, repo, data, tmp_path, fast_settings) -> None:
    hub.throttle_bps = 200_000
    job = _job(hub, tmp_path, data)
    control = FileControl()
    seen = threading.Event()

    def progress(done: int, _net: int) -> None:
        if done > 20_000:
            seen.set()
            control.cancel()

    with pytest.raises(DownloadCancelled) as info:
        download_file(job, fast_settings, control, progress)
    assert seen.is_set() and not info.value.paused
    assert not job.part.exists() and not job.state_path.exists() and not job.dest.exists()


def test_pause_keeps_part_then_resume(hub, repo, data, tmp_path, fast_settings) -> None:
    hub.throttle_bps = 400_000
    job = _job(hub, tmp_path, data)
    control = FileControl()
    threading.Timer(0.2, control.pause).start()
    with pytest.raises(DownloadCancelled) as info:
        download_file(job, fast_settings, control)
    assert info.value.paused
    kept = job.part.stat().st_size
    assert 0 < kept < SIZE
    hub.throttle_bps = None
    result = download_file(job, fast_settings, FileControl())
    assert job.dest.read_bytes() == data and result.received_bytes == SIZE - kept


def test_two_downloads_of_one_file_share_the_part(hub, repo, data, tmp_path, fast_settings) -> None:
    hub.throttle_bps = 1_000_000
    job = _job(hub, tmp_path, data)
    results = []

    def run() -> None:
        results.append(download_file(job, fast_settings, FileControl(), already_done=job.dest.is_file))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert job.dest.read_bytes() == data
    assert sorted(r.received_bytes for r in results) == [0, SIZE]
    assert hub.bytes_sent[BLOB] == SIZE


def test_part_from_another_revision_is_discarded(hub, repo, data, tmp_path, fast_settings) -> None:
    job = _job(hub, tmp_path, data)
    job.part.parent.mkdir(parents=True)
    job.part.write_bytes(b"x" * 1000)
    fsutil.atomic_write_json(job.state_path, {"size": SIZE, "sha256": "0" * 64, "endpoint": hub.url})
    download_file(job, fast_settings, FileControl())
    assert job.dest.read_bytes() == data
    assert _cdn_gets(hub)[0].get("Range") is None


def test_resume_from_another_endpoint_skips_if_range(hub, repo, data, tmp_path, fast_settings) -> None:
    job = _job(hub, tmp_path, data)
    job.part.parent.mkdir(parents=True)
    job.part.write_bytes(data[:1000])
    fsutil.atomic_write_json(
        job.state_path,
        {"size": SIZE, "sha256": job.sha256, "endpoint": "https://mirror.example", "etag": '"other"'},
    )
    result = download_file(job, fast_settings, FileControl())
    assert job.dest.read_bytes() == data and result.received_bytes == SIZE - 1000
    first = _cdn_gets(hub)[0]
    assert first["Range"] == "bytes=1000-" and "If-Range" not in first


def test_final_rename_across_drives(hub, repo, data, tmp_path, fast_settings, monkeypatch) -> None:
    real_replace = Path.replace

    def replace(self: Path, target):
        if self.suffix == ".part":
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", replace)
    job = _job(hub, tmp_path, data)
    download_file(job, fast_settings, FileControl())
    assert job.dest.read_bytes() == data
    assert not job.part.exists() and not list(job.dest.parent.glob("*.dit360-tmp"))
