"""History entry → Upscale…: the dialog with its estimate, the queued job, and the worker running it (the SR
network is a plain torch convolution stack here, so the test runs where spandrel is not installed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtWidgets import QDialog, QWidget
from safetensors.torch import save_file

from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result
from dit360_desktop.ui.common.jobs import UpscaleJob
from dit360_desktop.ui.gallery import upscale_action


@pytest.fixture
def entry_in_library(tmp_path):
    from dit360_desktop.history.library import Library

    y, x = np.mgrid[0:64, 0:128].astype(np.float64)
    pixels = np.stack([100 + 50 * np.sin(2 * np.pi * x / 128), 120 + y, 150 + 0 * x], -1).astype(np.uint8)
    request = GenerationRequest(prompt="This is a panorama image. Dunes.", seed=5, width=128, height=64)
    folder = tmp_path / "library"
    with Library.open(folder) as library:
        entry = library.save(Result(image=Image.fromarray(pixels), request=request, metadata={}))
    return folder, entry


@pytest.fixture
def model_file(tmp_path) -> Path:
    path = tmp_path / "sr.safetensors"
    save_file(
        {"body.0.weight": torch.zeros(8, 3, 3, 3), "body.2.weight": torch.zeros(48, 8, 3, 3)}, str(path)
    )
    return path


class FakeGallery:
    def __init__(self, entry) -> None:
        self.entry, self.actions = entry, []

    def current_entry(self):
        return self.entry

    def add_entry_action(self, action) -> None:
        self.actions.append(action)


def test_dialog_estimates_and_queues(qtbot, entry_in_library, model_file, monkeypatch) -> None:
    _folder, entry = entry_in_library
    window = QWidget()
    qtbot.addWidget(window)
    monkeypatch.setattr(upscale_action, "default_sr_model", lambda: (model_file, ""))
    # The SR network is faked here, so the installation need not have spandrel for the dialog.
    monkeypatch.setattr(upscale_action.features, "missing_modules", lambda key: [])
    seen = {}

    def accept(dialog) -> int:
        dialog.scale.setCurrentIndex(1)
        dialog.detail.setValue(0.25)
        seen["estimate"] = dialog.estimate.text()
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(upscale_action.UpscaleDialog, "exec", accept)
    jobs = []

    class Worker:
        def enqueue_upscale(self, job, request):
            jobs.append((job, request))

    gallery = FakeGallery(entry)
    upscale_action.attach_upscale(gallery, Worker(), window).trigger()
    assert "512×256" in seen["estimate"] and "On a GPU" in seen["estimate"]
    ((job, request),) = jobs
    assert job == UpscaleJob(source=entry.path, scale=4, sr_model=model_file, tile=None, detail=0.25)
    assert "detail stage" in seen["estimate"]
    assert request.prompt == "This is a panorama image. Dunes."


def test_dialog_without_a_model_says_what_to_do(qtbot, entry_in_library) -> None:
    _folder, entry = entry_in_library
    dialog = upscale_action.UpscaleDialog(entry, None, "No super-resolution model is installed. Run …")
    qtbot.addWidget(dialog)
    assert not dialog.buttons.buttons()[0].isEnabled()
    assert dialog.estimate.text().startswith("No super-resolution model")


def test_worker_runs_the_upscale_and_saves_it(
    qtbot, make_worker, shared_engine, entry_in_library, monkeypatch
) -> None:
    from dit360_desktop.core.upscale import job as upscale_job
    from dit360_desktop.core.upscale.model import SuperResolution
    from dit360_desktop.history.library import Library
    from dit360_desktop.panorama import imageio

    nearest = SuperResolution(
        module=torch.nn.Upsample(scale_factor=2, mode="nearest"),
        scale=2,
        architecture="nearest ×2",
        path=Path("nearest.safetensors"),
        device=torch.device("cpu"),
        dtype=torch.float32,
    )
    monkeypatch.setattr(upscale_job, "load_sr_model", lambda path, device="auto": nearest)
    folder, entry = entry_in_library
    worker = make_worker(shared_engine, store_factory=lambda: Library.open(folder))
    finished, steps = [], []
    worker.job_finished.connect(finished.append)
    worker.step_progress.connect(lambda job_id, event: steps.append((event.step, event.total)))
    request = GenerationRequest(prompt="This is a panorama image. Dunes.", device="cpu")
    worker.enqueue_upscale(UpscaleJob(entry.path, 4, Path("any.safetensors"), tile=32), request)
    worker.start()
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=60_000)
    done = finished[0]
    assert done.save_error is None and done.image.shape == (256, 512, 3)
    assert steps[-1][0] == steps[-1][1] == 8 + 32  # two ×2 passes: 2×4 tiles of 32 px, then 4×8
    meta = imageio.read_metadata(done.entry.path)
    assert str(meta.gpano["FullPanoWidthPixels"]) == "512"
    assert meta.dit360["upscale"]["scale"] == 4 and meta.dit360["request"]["width"] == 512
    source = np.asarray(Image.open(entry.path))
    assert np.array_equal(done.image, source.repeat(4, axis=0).repeat(4, axis=1))  # nearest ×2 twice


def test_worker_upscale_with_the_detail_stage(
    qtbot, make_worker, shared_engine, entry_in_library, monkeypatch
):
    from dit360_desktop.core.upscale import job as upscale_job
    from dit360_desktop.core.upscale.model import SuperResolution
    from dit360_desktop.history.library import Library
    from dit360_desktop.panorama import imageio

    nearest = SuperResolution(
        module=torch.nn.Upsample(scale_factor=2, mode="nearest"),
        scale=2,
        architecture="nearest ×2",
        path=Path("nearest.safetensors"),
        device=torch.device("cpu"),
        dtype=torch.float32,
    )
    monkeypatch.setattr(upscale_job, "load_sr_model", lambda path, device="auto": nearest)
    folder, entry = entry_in_library
    worker = make_worker(shared_engine, store_factory=lambda: Library.open(folder))
    finished, stages = [], []
    worker.job_finished.connect(finished.append)
    worker.stage_changed.connect(lambda job_id, event: stages.append(event.message))
    request = GenerationRequest(prompt="This is a panorama image. Dunes.", steps=2, seed=3, device="cpu")
    worker.enqueue_upscale(UpscaleJob(entry.path, 2, Path("any.safetensors"), tile=0, detail=0.3), request)
    worker.start()
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=120_000)
    done = finished[0]
    assert done.save_error is None and done.image.shape == (128, 256, 3)
    assert "Detail window 1 of 1" in stages
    source = np.asarray(Image.open(entry.path))
    assert not np.array_equal(done.image, source.repeat(2, axis=0).repeat(2, axis=1))  # the detail pass ran
    assert imageio.read_metadata(done.entry.path).dit360["upscale"]["detail"]["strength"] == 0.3
