"""A failed library save never drops the picture: recovery copy, the picture stays, a non-modal Save as….

The save path itself (read-only and full libraries, the recovery copy): tests/history/test_saving.py.
"""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QApplication

from dit360_desktop.history.library import Library
from dit360_desktop.history.saving import save_result
from dit360_desktop.panorama import fileio, imageio
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result
from dit360_desktop.settings import Settings
from dit360_desktop.ui.common.jobs import FinishedJob
from dit360_desktop.ui.generation import unsaved_notice
from dit360_desktop.ui.generation.unsaved_notice import UnsavedResultNotice


def _result(seed: int = 5) -> Result:
    request = GenerationRequest(prompt="This is a panorama image. A red barn", seed=seed, width=64, height=32)
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, (32, 64, 3), dtype=np.uint8), "RGB")
    return Result(image=image, request=request, metadata={"seed": seed, "timings": {"denoising": 1.0}})


def _library_full(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """Writes into ``root`` fail with ENOSPC; the recovery folder (elsewhere) still takes files."""
    real = fileio.write_atomic

    def write_atomic(path, data):
        if Path(path).resolve().is_relative_to(root.resolve()):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(fileio, "write_atomic", write_atomic)


def test_when_the_recovery_folder_fails_too_the_outcome_says_so(tmp_path, monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio, "write_atomic", fail)
    report = save_result(_result(), library_error=OSError(errno.EROFS, "Read-only"))
    assert report.error_text and report.recovered is None
    job = _finished(report.error_text, None)
    assert "No recovery copy" in unsaved_notice.notice_text(job)[1]


def _finished(save_error: str, recovery_path: str | None) -> FinishedJob:
    result = _result(seed=9)
    return FinishedJob(
        job_id=1,
        request=result.request,
        image=np.ascontiguousarray(np.asarray(result.image)),
        metadata=dict(result.metadata),
        save_error=save_error,
        recovery_path=recovery_path,
    )


def test_save_as_writes_the_png_with_full_metadata_and_a_failure_keeps_the_notice(
    qtbot, tmp_path, monkeypatch
) -> None:
    folders: dict[str, str] = {}
    notice = UnsavedResultNotice(_finished("the disk is full", "/data/recovered/x.png"), folders, None)
    qtbot.addWidget(notice)
    notice.show()
    assert not notice.isModal() and notice.recovery_field.text() == "/data/recovered/x.png"
    assert "recovery folder" in notice.where.text() and notice.recovery_field.isVisible()
    assert notice.show_folder_button.isVisibleTo(notice)

    # A folder as the target: the reason is shown in the notice, which stays open.
    (tmp_path / "taken.png").mkdir()
    chosen = [str(tmp_path / "taken.png"), str(tmp_path / "kept")]
    monkeypatch.setattr(
        unsaved_notice.QFileDialog, "getSaveFileName", lambda *a, **k: (chosen.pop(0), "PNG image (*.png)")
    )
    assert notice.save_as() is None
    assert notice.isVisible() and "Could not write" in notice.outcome.text()

    with qtbot.waitSignal(notice.saved) as saved:
        notice.save_as_button.click()
    path = tmp_path / "kept.png"
    assert saved.args == [path] and path.is_file() and "Saved to" in notice.outcome.text()
    assert folders[unsaved_notice.FOLDER_KIND] == str(tmp_path)
    assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), notice.finished_job.image)
    meta = imageio.read_metadata(path)
    assert meta.dit360["request"]["seed"] == 9 and meta.dit360["seed"] == 9
    assert "Seed: 9" in meta.parameters and meta.gpano["FullPanoWidthPixels"] == "64"


def test_the_app_keeps_the_picture_and_offers_save_as_when_the_library_is_full(
    qtbot, make_worker, shared_engine, small_request, tmp_path, monkeypatch
) -> None:
    from dit360_desktop.ui.main_window import MainWindow

    root = tmp_path / "library"
    with Library.open(root):
        pass
    _library_full(monkeypatch, root)
    worker = make_worker(shared_engine, store_factory=lambda: Library.open(root))
    window = MainWindow(Settings(), worker=worker)
    window.confirm_stop = lambda: True
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.first_exposed, timeout=20_000):
        window.show()
    try:
        window.generation._enqueue([small_request(seed=31, steps=1)])
        qtbot.waitUntil(lambda: window.last_finished is not None, timeout=90_000)
        finished = window.last_finished
        assert np.array_equal(window.viewer.panorama, finished.image)
        qtbot.waitUntil(lambda: window.findChild(UnsavedResultNotice) is not None, timeout=5_000)
        notice = window.findChild(UnsavedResultNotice)
        assert notice.isVisible() and not notice.isModal() and QApplication.activeModalWidget() is None
        assert window.last_error_dialog is None
        assert (
            "disk is full" in notice.message.text() and notice.recovery_field.text() == finished.recovery_path
        )
        assert imageio.read_metadata(finished.recovery_path).dit360["request"]["seed"] == 31
        assert list(root.glob("images/**/*.png")) == []
        out = tmp_path / "saved-by-hand.png"
        monkeypatch.setattr(unsaved_notice.QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
        notice.save_as_button.click()
        assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), finished.image)
        assert window.settings.last_folders[unsaved_notice.FOLDER_KIND] == str(tmp_path)
    finally:
        window.close()
        qtbot.waitUntil(lambda: not worker.isRunning(), timeout=60_000)
