"""Depth & 3D with only the depth model installed: the app's own worker (its default engine factory, no
engine handed in) runs the tasks that need no FLUX.1-dev, and still refuses a FLUX task with the usual
"not installed" sentence. A missing depth model is said by name, with the model manager offered."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.history.files import depth_path_of
from dit360_desktop.history.library import Library
from dit360_desktop.panorama.depthmap import read_distance
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.ui.common.jobs import DepthJob, ErrorKind, ModelState, StereoJob

SMALL = "depth-anything/Depth-Anything-V2-Small-hf"


@pytest.fixture
def installed_depth(tiny_depth_dir: Path) -> Path:
    """The tiny Depth Anything V2 as a snapshot of Small in the (test's own, empty) Hugging Face cache."""
    from dit360_desktop.models.depth import installed_depth_model
    from dit360_desktop.models.layouts import hf_cache_repo_folder
    from dit360_desktop.models.location import hf_hub_cache_dir

    snapshot = hf_cache_repo_folder(hf_hub_cache_dir(), SMALL) / "snapshots" / "0123abcd"
    shutil.copytree(tiny_depth_dir, snapshot)
    assert installed_depth_model() == snapshot
    return snapshot


@pytest.fixture
def app_worker(make_worker, room_entry):
    """The worker as the app builds it: no model folder chosen, nothing but the depth model installed."""
    from dit360_desktop.models.selection import resolve_base_model
    from dit360_desktop.panorama.errors import ModelMissingError

    with pytest.raises(ModelMissingError, match=r"FLUX\.1-dev is not installed"):
        resolve_base_model(None)
    folder, _entry = room_entry
    worker = make_worker(store_factory=lambda: Library.open(folder))
    return worker


class Events:
    def __init__(self, worker) -> None:
        self.finished, self.failed, self.states = [], {}, []
        worker.job_finished.connect(self.finished.append)
        worker.job_failed.connect(lambda job_id, report: self.failed.__setitem__(job_id, report))
        worker.model_state_changed.connect(self.states.append)

    def done(self) -> int:
        return len(self.finished) + len(self.failed)


def test_a_depth_job_runs_without_flux_and_a_flux_job_still_says_it_is_missing(
    qtbot, app_worker, room_entry, installed_depth
) -> None:
    folder, source = room_entry
    events = Events(app_worker)
    app_worker.start()
    depth_id = app_worker.enqueue_depth(
        DepthJob(source.path, installed_depth), GenerationRequest(prompt="A room.")
    )
    qtbot.waitUntil(lambda: events.done() == 1, timeout=120_000)
    assert events.failed == {}, {k: r.message for k, r in events.failed.items()}
    result = events.finished[0]
    assert result.job_id == depth_id and result.save_error is None
    entry = result.entry
    assert entry is not None and entry.parent_id == source.id
    depth_file = depth_path_of(entry.path)
    assert result.depth_path == str(depth_file)
    distance = read_distance(depth_file)
    assert distance.shape == (64, 128) and np.isfinite(distance).all() and (distance > 0).all()
    preview = np.asarray(Image.open(entry.path).convert("L"))
    assert preview.flat[distance.argmin()] == 255 and preview.flat[distance.argmax()] == 0
    with Library.open(folder) as library:
        assert library.get(entry.id).metadata["depth"]["model"] == str(installed_depth)
    # FLUX.1-dev is still missing, and the status bar still says so after the depth model loaded.
    assert events.states[-1] is ModelState.MISSING and app_worker.model_state is ModelState.MISSING

    # A plain stereo pair (no fill) needs no model at all; its fill needs FLUX.1-dev.
    stereo = StereoJob(source.path, depth_file, False, 0.0, "none")
    stereo_id = app_worker.enqueue_stereo(stereo, GenerationRequest(prompt="A room."))
    qtbot.waitUntil(lambda: events.done() == 2, timeout=120_000)
    assert events.failed == {}
    pair = events.finished[1]
    # Top/bottom, left eye on top; with the eyes 0 m apart both are the panorama itself.
    assert pair.job_id == stereo_id and pair.image.shape == (128, 128, 3)
    assert np.array_equal(pair.image[:64], pair.image[64:])

    flux_id = app_worker.enqueue(GenerationRequest(prompt="A room.", width=256, height=128, steps=2))
    fill_id = app_worker.enqueue_stereo(
        StereoJob(source.path, depth_file, False, 0.0, "dit360"), GenerationRequest(prompt="A room.")
    )
    qtbot.waitUntil(lambda: events.done() == 4, timeout=120_000)
    for job_id in (flux_id, fill_id):
        report = events.failed[job_id]
        assert report.kind is ErrorKind.MODEL_MISSING and report.message == "FLUX.1-dev is not installed."
    assert app_worker.model_state is ModelState.MISSING

    # The depth model is still loaded on the FLUX-free engine: a second depth job gives the same map.
    again = app_worker.enqueue_depth(DepthJob(source.path, installed_depth), GenerationRequest(prompt="x"))
    qtbot.waitUntil(lambda: events.done() == 5, timeout=120_000)
    assert events.failed.keys() == {flux_id, fill_id}
    second = events.finished[-1]
    assert second.job_id == again
    assert np.array_equal(read_distance(Path(second.depth_path)), distance)


def test_a_depth_job_of_a_removed_depth_model_fails_without_saying_flux_is_missing(
    qtbot, app_worker, room_entry, tmp_path
) -> None:
    _folder, source = room_entry
    events = Events(app_worker)
    app_worker.start()
    gone = tmp_path / "removed-depth-model"
    app_worker.enqueue_depth(DepthJob(source.path, gone), GenerationRequest(prompt="A room."))
    qtbot.waitUntil(lambda: events.done() == 1, timeout=120_000)
    (report,) = events.failed.values()
    assert report.kind in (ErrorKind.MODEL_MISSING, ErrorKind.MODEL_INVALID)
    assert "FLUX" not in report.message and gone.name in report.message


def test_a_missing_depth_model_is_named_and_the_model_manager_offered(
    qtbot, depth_worker, room_entry, monkeypatch
) -> None:
    from dit360_desktop.models.catalog import load_catalog
    from dit360_desktop.settings import Settings
    from dit360_desktop.ui.main_window import MainWindow
    from tests.ui.depth.test_depth_panel import _open_manager_and_close

    folder, source = room_entry
    window = MainWindow(Settings(), worker=depth_worker, library_dir_override=folder, start_worker=False)
    window.confirm_stop = lambda: True
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.first_exposed, timeout=20_000):
        window.show()
    qtbot.waitUntil(lambda: window.gallery is not None and window.depth is not None, timeout=30_000)
    queued = []
    depth_worker.queue_changed.connect(lambda jobs: queued.extend(jobs))
    assert window.gallery.select_entry(source.id)
    window.depth.action.trigger()
    panel = window.depth.panel
    panel.estimate_button.click()
    # Said in the panel where the person pressed Estimate, with the model manager one click away.
    assert window.last_error_dialog is None and queued == []
    assert panel.state_label.text() == (
        "No depth model is installed: depth, 3D and stereo need Depth Anything V2 Small (transformers). "
        "The model manager downloads it, or imports a copy you have."
    )
    assert panel.model_button.isVisible() and panel.model_button.text() == "Open model manager…"
    seen = _open_manager_and_close(qtbot, panel.model_button.click)
    assert seen == [load_catalog().for_role("depth").id]
    window.close()
