"""History entry → Repair…: the context action, its dialog, and the worker job that saves the repair as a
child of the entry (tiny FLUX model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog, QMessageBox

from dit360_desktop.history.library import Library
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

    request = GenerationRequest(
        prompt="This is a panorama image. A meadow.", seed=9, width=256, height=128, steps=2
    )
    folder = tmp_path / "library"
    with Library.open(folder) as library:
        entry = library.save(Result(image=Image.fromarray(seamed()), request=request, metadata={}))
    return folder, entry


class FakeGallery:
    def __init__(self, entry, library=None) -> None:
        self.entry = entry
        self.library = library
        self.actions = []

    def current_entry(self):
        return self.entry

    def add_entry_action(self, action) -> None:
        self.actions.append(action)


class FakeWorker(QObject):
    job_finished = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.jobs = []

    def enqueue_repair(self, job, request) -> int:
        self.jobs.append((job, request))
        return 1


def test_action_queues_a_repair_with_the_entrys_prompt(qtbot, library_with_entry, monkeypatch) -> None:
    from PySide6.QtWidgets import QWidget

    folder, entry = library_with_entry
    window = QWidget()
    qtbot.addWidget(window)
    library = Library.open(folder)
    gallery, worker = FakeGallery(entry, library), FakeWorker()
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
    # The entry's own seed (issue 21, item 4): the repair regenerates with the panorama's noise.
    assert request.prompt == "This is a panorama image. A meadow." and request.seed == 9
    assert request.init_image is None and request.mask_image is None
    library.close()


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


def placed_photo_library(tmp_path: Path) -> tuple[Library, object, Path]:
    """A placed photo outpainted (an edit whose mask keeps the photo's footprint), then repaired once."""
    library = Library.open(tmp_path / "placed")
    composed = tmp_path / "composed.png"
    Image.fromarray(seamed()).save(composed)
    mask = np.full((128, 256), 255, np.uint8)
    mask[32:96, :20] = 0  # the photo, across yaw 180° (the seam)
    mask[32:96, -20:] = 0
    mask_file = tmp_path / "outpaint.mask.png"
    Image.fromarray(mask).save(mask_file)
    request = GenerationRequest(
        prompt="This is a panorama image. A harbour.", seed=77, width=256, height=128,
        init_image=str(composed), mask_image=str(mask_file),
    )  # fmt: skip
    placed = library.save(Result(image=Image.fromarray(seamed()), request=request, metadata={}))
    repair_request = GenerationRequest(
        prompt=request.prompt, seed=77, width=256, height=128, init_image=str(placed.path),
        mask_image=str(mask_file),
    )  # fmt: skip
    repaired = library.save(
        Result(image=Image.fromarray(seamed()), request=repair_request, metadata={"repair": {"applied": []}})
    )
    return library, repaired, placed.mask_path


def test_the_artists_pixels_are_kept_unless_unticked(qtbot, tmp_path: Path, monkeypatch) -> None:
    from PySide6.QtWidgets import QWidget

    library, repaired, placed_mask = placed_photo_library(tmp_path)
    window = QWidget()
    qtbot.addWidget(window)
    worker = FakeWorker()
    shown = {}

    def accept(dialog) -> int:
        shown["visible"] = not dialog.keep_own.isHidden()
        shown["checked"] = dialog.keep_own.isChecked()
        if shown.get("untick"):
            dialog.keep_own.setChecked(False)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(repair_action.RepairDialog, "exec", accept)
    action = repair_action.attach_repair(FakeGallery(repaired, library), worker, window)
    action.trigger()
    # The repair of a repair reaches back to the placement: the repair's own mask marks what it changed.
    assert shown == {"visible": True, "checked": True}
    assert worker.jobs[0][0].kept_mask == placed_mask and placed_mask.is_file()
    assert worker.jobs[0][1].seed == 77
    shown["untick"] = True
    action.trigger()
    assert worker.jobs[1][0].kept_mask is None
    library.close()


def test_the_scores_before_and_after_are_shown(qtbot, monkeypatch) -> None:
    from types import SimpleNamespace

    from PySide6.QtWidgets import QApplication, QWidget

    window = QWidget()
    qtbot.addWidget(window)
    worker = FakeWorker()
    monkeypatch.setattr(repair_action, "repair_problem", lambda entry: None)
    monkeypatch.setattr(repair_action.RepairDialog, "exec", lambda dialog: QDialog.DialogCode.Accepted)
    entry = SimpleNamespace(id=1, path=Path("p.png"), metadata={}, mask_path=None, parent_id=None)
    repair_action.attach_repair(FakeGallery(entry, None), worker, window).trigger()
    report = {
        "seam_before": 3.2, "seam_after": 0.98, "poles_before": [0.89, 0.86], "poles_after": [0.89, 0.86],
        "applied": ["seam"], "protected_pixels": 2560,
        "notes": ["The north pole repair did not lower its smear score (0.89 → 1.24); it was not applied."],
    }  # fmt: skip
    worker.job_finished.emit(SimpleNamespace(job_id=1, metadata={"repair": report}))
    boxes = [w for w in QApplication.topLevelWidgets() if w.objectName() == "RepairReport" and w.isVisible()]
    assert len(boxes) == 1
    text = boxes[0].text()
    assert "Seam score: 3.20 → 0.98" in text and "north 0.89 → 0.89" in text
    assert "Applied: seam" in text and "2560 pixels of your own content" in text
    assert "north pole repair did not lower" in text
    boxes[0].close()
