"""History entry → Repair…: the context action, its dialog, and the worker job that saves the repair as a
child of the entry (tiny FLUX model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QDialog, QMessageBox

from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result
from dit360_desktop.ui.common.jobs import RepairJob
from dit360_desktop.ui.gallery import repair_action


def seamed(width: int = 256, height: int = 128) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.stack([90 + 0.5 * y, 140 + 40 * np.sin(2 * np.pi * x / width), 200 - 0.3 * y], -1)
    image += np.linspace(0, 60, width)[None, :, None]
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture
def library_with_entry(tmp_path):
    from dit360_desktop.history.library import Library

    request = GenerationRequest(
        prompt="This is a panorama image. A meadow.", seed=9, width=256, height=128, steps=2
    )
    folder = tmp_path / "library"
    with Library.open(folder) as library:
        entry = library.save(
            Result(image=Image.fromarray(seamed()), request=request, metadata={"request": request.to_dict()})
        )
    return folder, entry


class FakeGallery:
    def __init__(self, entry) -> None:
        self.entry = entry
        self.actions = []

    def current_entry(self):
        return self.entry

    def add_entry_action(self, action) -> None:
        self.actions.append(action)


class FakeWorker:
    def __init__(self) -> None:
        self.jobs = []

    def enqueue_repair(self, job, request) -> int:
        self.jobs.append((job, request))
        return 1


def test_action_queues_a_repair_with_the_entrys_prompt(qtbot, library_with_entry, monkeypatch) -> None:
    from PySide6.QtWidgets import QWidget

    _folder, entry = library_with_entry
    window = QWidget()
    qtbot.addWidget(window)
    gallery, worker = FakeGallery(entry), FakeWorker()
    chosen = {}

    def accept(dialog) -> int:
        dialog.poles.setChecked(True)
        dialog.strength.setValue(0.5)
        chosen["ok_enabled"] = dialog.buttons.buttons()[0].isEnabled()
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(repair_action.RepairDialog, "exec", accept)
    action = repair_action.attach_repair(gallery, worker, window)
    assert gallery.actions == [action] and action.objectName() == "act_repair_entry"
    action.trigger()
    ((job, request),) = worker.jobs
    assert job == RepairJob(source=entry.path, seam=True, poles=True, strength=0.5)
    assert request.prompt == "This is a panorama image. A meadow." and request.seed is None
    assert request.init_image is None and request.mask_image is None


def test_action_explains_what_cannot_be_repaired(qtbot, monkeypatch) -> None:
    from types import SimpleNamespace

    from PySide6.QtWidgets import QWidget

    window = QWidget()
    qtbot.addWidget(window)
    shown = []
    monkeypatch.setattr(QMessageBox, "information", lambda *args: shown.append(args[2]))
    worker = FakeWorker()
    odd = SimpleNamespace(id=3, missing=False, path=Path(__file__), width=120, height=60, metadata={})
    repair_action.attach_repair(FakeGallery(odd), worker, window).trigger()
    repair_action.attach_repair(FakeGallery(None), worker, window).trigger()
    assert "multiples of 16" in shown[0] and shown[1] == "Select a panorama first."
    assert worker.jobs == []


def test_dialog_needs_a_choice(qtbot) -> None:
    dialog = repair_action.RepairDialog(None)
    qtbot.addWidget(dialog)
    ok = dialog.buttons.buttons()[0]
    dialog.seam.setChecked(False)
    assert not ok.isEnabled()
    dialog.poles.setChecked(True)
    assert ok.isEnabled()


def test_worker_saves_the_repair_as_a_child(qtbot, make_worker, shared_engine, library_with_entry) -> None:
    from dit360_desktop.core.repair import RepairOptions, seam_support
    from dit360_desktop.history.library import Library
    from dit360_desktop.panorama import qa

    folder, entry = library_with_entry
    worker = make_worker(shared_engine, store_factory=lambda: Library.open(folder))
    finished = []
    worker.job_finished.connect(finished.append)
    request = GenerationRequest(prompt="This is a panorama image. A meadow.", steps=2, seed=1, device="cpu")
    worker.enqueue_repair(RepairJob(source=entry.path, seam=True, poles=False), request)
    worker.start()
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=120_000)
    done = finished[0]
    assert done.save_error is None and done.entry.parent_id == entry.id
    before = np.asarray(Image.open(entry.path))
    support = seam_support(256, 128, RepairOptions())
    assert np.array_equal(done.image[~support], before[~support])
    assert qa.seam_score(done.image) < qa.seam_score(before)
    assert done.metadata["repair"]["applied"] == ["seam"]
