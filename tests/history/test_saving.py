"""The one save path (history/saving.py): named file, library, further copies, the recovery copy, batch job
keys; a result's request is written once, from Result.request, by the one metadata writer."""

from __future__ import annotations

import errno
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.history import recovery
from dit360_desktop.history.errors import LibraryDiskFullError, LibraryReadOnlyError
from dit360_desktop.history.library import Library
from dit360_desktop.history.saving import JobKey, LibraryOnDemand, save_result, saved_job_ids
from dit360_desktop.panorama import fileio, imageio
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result


def _result(seed: int = 5) -> Result:
    request = GenerationRequest(prompt="This is a panorama image. A red barn", seed=seed, width=64, height=32)
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, (32, 64, 3), dtype=np.uint8), "RGB")
    return Result(image=image, request=request, metadata={"seed": seed, "timings": {"denoising": 1.0}})


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture
def read_only_library(tmp_path: Path) -> Iterator[Path]:
    """A library folder bind-mounted read-only: a real EROFS (chmod means nothing to root)."""
    source = tmp_path / "library"
    with Library.open(source):
        pass
    view = tmp_path / "ro-library"
    view.mkdir()
    try:
        subprocess.run(["mount", "--bind", str(source), str(view)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("bind mounts need root (and mount) on Linux")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], check=True, capture_output=True)
        yield view
    finally:
        subprocess.run(["umount", str(view)], check=False, capture_output=True)


def _library_full(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """Writes into ``root`` fail with ENOSPC; the recovery folder (elsewhere) still takes files."""
    real = fileio.write_atomic

    def write_atomic(path, data, *args, **kwargs):
        if Path(path).resolve().is_relative_to(root.resolve()):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data, *args, **kwargs)

    monkeypatch.setattr(fileio, "write_atomic", write_atomic)


# --- the library refuses: the recovery copy ---------------------------------------------------------


def test_a_read_only_library_sends_the_result_to_the_recovery_folder(read_only_library: Path) -> None:
    on_demand = LibraryOnDemand(lambda: Library.open(read_only_library))
    report = save_result(_result(seed=5), library=on_demand.get(), library_error=on_demand.error)
    assert report.entry is None and report.written == []
    assert isinstance(report.error, LibraryReadOnlyError) and report.error.exit_code == 2
    assert "read-only" in report.error_text and str(read_only_library) in report.error_text
    copy = report.recovered
    assert copy is not None and copy.parent == recovery.recovery_dir() and copy.is_file()
    assert np.array_equal(_pixels(copy), np.asarray(_result(seed=5).image))
    meta = imageio.read_metadata(copy)
    assert meta.dit360["request"]["seed"] == 5 and meta.gpano["ProjectionType"] == "equirectangular"
    assert list(read_only_library.glob("images/**/*.png")) == []
    on_demand.close()


def test_a_full_library_sends_each_result_to_recovery_and_stays_open(tmp_path, monkeypatch) -> None:
    root = tmp_path / "library"
    opened = []
    on_demand = LibraryOnDemand(lambda: opened.append(1) or Library.open(root))
    first = save_result(_result(seed=1), library=on_demand.get())  # opens it while the disk has room
    assert first.entry is not None and first.recovered is None
    _library_full(monkeypatch, root)
    reports = [save_result(_result(seed=i), library=on_demand.get()) for i in (2, 3)]
    assert opened == [1]
    for seed, report in zip((2, 3), reports, strict=True):
        # The documented disk-full error: exit 6 on the command line, "the disk is full" in the app.
        assert isinstance(report.error, LibraryDiskFullError) and report.error.exit_code == 6
        assert "disk is full" in report.error_text and report.failures[0][0] == "library"
        assert imageio.read_metadata(report.recovered).dit360["request"]["seed"] == seed
    on_demand.close()


def test_a_library_that_cannot_be_opened_counts_as_refusing_the_result() -> None:
    def cannot_open() -> Library:
        raise OSError(errno.EROFS, "Read-only file system")

    on_demand = LibraryOnDemand(cannot_open)
    assert on_demand.configured and on_demand.get() is None and on_demand.get() is None
    report = save_result(_result(seed=8), library=on_demand.get(), library_error=on_demand.error)
    assert report.failures == [("library", on_demand.error)] and "Read-only" in report.error_text
    assert imageio.read_metadata(report.recovered).dit360["request"]["seed"] == 8


def test_no_library_configured_is_said_so() -> None:
    on_demand = LibraryOnDemand(None)
    assert not on_demand.configured and on_demand.get() is None and on_demand.error is None


def test_when_the_recovery_folder_fails_too_the_report_says_so(monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(recovery.fileio, "write_atomic", fail)
    library_error = OSError(errno.EROFS, "Read-only")
    report = save_result(_result(), library_error=library_error)
    assert report.recovered is None and report.written == []
    assert [what for what, _ in report.failures] == ["library", "recovery folder"]
    assert report.error is library_error


# --- the named file, the library and further copies -------------------------------------------------


def test_output_library_and_extra_copies_are_written_in_order_with_one_metadata(tmp_path, library) -> None:
    result = _result(seed=12)
    out = tmp_path / "out" / "pano.png"
    out.parent.mkdir()
    extra_seen: list[Result] = []

    def sidecar(saved: Result) -> Path:
        extra_seen.append(saved)
        path = tmp_path / "sidecar.json"
        path.write_text(json.dumps(saved.file_metadata()))
        return path

    report = save_result(result, library=library, output=out, extra_copies=[("--sidecar", sidecar)])
    assert report.failures == [] and report.recovered is None
    assert report.written == [out, report.entry.path, tmp_path / "sidecar.json"]
    assert extra_seen == [result]
    output_meta = imageio.read_metadata(out).dit360
    library_meta = imageio.read_metadata(report.entry.path).dit360
    # The library adds only where it keeps the file; everything else is the one writer's, byte for byte.
    assert set(library_meta) - set(output_meta) == {"created_at"}
    library_meta.pop("created_at")
    assert json.dumps(library_meta) == json.dumps(output_meta)
    assert list(output_meta)[:2] == ["request", "seed"]
    assert output_meta["request"] == result.request.to_dict() and output_meta["seed"] == 12
    assert np.array_equal(_pixels(out), np.asarray(result.image))


def test_a_failed_output_still_saves_to_the_library_and_no_recovery_copy_is_made(tmp_path, library) -> None:
    folder = tmp_path / "taken.png"
    folder.mkdir()
    report = save_result(_result(), library=library, output=folder)
    assert [what for what, _ in report.failures] == ["--output"]
    assert isinstance(report.error, OSError) and report.written == [report.entry.path]
    assert report.recovered is None and library.count() == 1


def test_a_failed_extra_copy_keeps_the_picture(tmp_path) -> None:
    def full(_saved: Result) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device")

    out = tmp_path / "pano.png"
    report = save_result(_result(), output=out, extra_copies=[("--save-latent", full)])
    assert report.written == [out] and report.recovered is None
    assert [what for what, _ in report.failures] == ["--save-latent"] and fileio.is_disk_full(report.error)


# --- batch jobs: one entry per job id ---------------------------------------------------------------


def test_a_batch_job_is_saved_once_and_a_deleted_entry_counts_as_not_done(library) -> None:
    saved = saved_job_ids(library)
    first = save_result(_result(1), library=library, job=JobKey("job-1", saved, {"cluster": {"attempt": 2}}))
    assert saved == {"job-1": first.entry.id} and first.entry.metadata["cluster"] == {"attempt": 2}
    again = save_result(_result(1), library=library, job=JobKey("job-1", saved))
    assert again.already_saved and again.entry.id == first.entry.id and again.written == []
    assert library.count() == 1 and saved_job_ids(library) == {"job-1": first.entry.id}
    library.delete(first.entry.id)
    redo = save_result(_result(1), library=library, job=JobKey("job-1", saved))
    assert not redo.already_saved and saved == {"job-1": redo.entry.id} != {"job-1": first.entry.id}


# --- the request is held once -------------------------------------------------------------------------


def test_a_result_refuses_a_second_copy_of_its_request() -> None:
    request = GenerationRequest(prompt="a bay", seed=1, width=64, height=32)
    with pytest.raises(ValueError, match=r"Result\.request is the one copy"):
        Result(image=Image.new("RGB", (64, 32)), request=request, metadata={"request": request.to_dict()})


def test_an_edit_records_the_kept_mask_in_its_request_not_in_a_dict_copy(tmp_path, library) -> None:
    mask = tmp_path / "mask.png"
    Image.fromarray(np.where(np.arange(64)[None, :] < 32, 255, 0).astype(np.uint8).repeat(32, 0)).save(mask)
    source = tmp_path / "source.png"
    _result().image.save(source)
    request = GenerationRequest(
        prompt="a red barn", seed=3, width=64, height=32, init_image=str(source), mask_image=str(mask)
    )
    result = Result(image=_result().image, request=request, metadata={})
    entry = save_result(result, library=library).entry
    stored = imageio.read_metadata(entry.path).dit360
    kept = Path(stored["request"]["mask_image"])
    assert kept != mask and kept.is_file() and kept.is_relative_to(library.root)
    assert stored["lineage"]["mask"] == kept.relative_to(library.root).as_posix()
    assert entry.metadata["request"] == stored["request"]
    assert entry.params["mask_image"] == str(kept) and entry.request().mask_image == str(kept)
    # The caller's result is untouched: nothing edited a copy of it, and nothing edited it.
    assert result.request.mask_image == str(mask) and result.metadata == {}


def test_files_and_rows_written_before_the_request_was_held_once_read_as_before(tmp_path) -> None:
    """The old writer put the request inside the metadata dict (and the library set the seed and date):
    such a file in the folder is adopted, its row reads back, and a result derived from it saves."""
    root = tmp_path / "library"
    Library.open(root).close()
    request = GenerationRequest(
        prompt="This is a panorama image. An old harbour", seed=21, width=64, height=32
    )
    old = {
        "request": request.to_dict(),
        "seed": 21,
        "models": {"base": {"name": "flux", "path": "/models/flux"}},
        "timings": {"denoising": 2.0},
        "created_at": "2025-05-01T10:00:00+00:00",
    }
    orphan = root / "images" / "2025-05" / "old-s21.png"
    orphan.parent.mkdir(parents=True)
    imageio.save_png(_result(21).image, orphan, old)
    with Library.open(root) as library:
        (entry,) = library.search()
        assert entry.path == orphan and entry.request() == request and entry.seed == 21
        assert entry.metadata == old and entry.created_at.year == 2025
        assert library.rescan().adopted == 0 and library.get(entry.id).metadata == old
        derived = Result(image=_result(21).image, request=entry.request(), metadata={"derived": True})
        again = save_result(derived, library=library).entry
        assert again.metadata["request"] == old["request"] and again.metadata["derived"] is True
