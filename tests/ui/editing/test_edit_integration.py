"""From a stroke on the viewer to a saved edit: paint through the viewer's input path, run the edit on the
tiny model through the generation worker, and find the result in the library linked to its parent, with
its mask beside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt

from dit360_desktop.history.library import Library
from dit360_desktop.panorama.mask import MASK_NOISE_LEVELS
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result
from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.editing.controller import EditController
from dit360_desktop.ui.editing.panel import EditPanel


@pytest.mark.gl
def test_a_painted_edit_runs_on_the_worker_and_lands_in_history_linked_to_its_parent(
    qtbot, gl_viewer, make_worker, shared_engine, tmp_path, analytic
):
    library_dir = tmp_path / "library"
    with Library.open(library_dir) as library:
        source = GenerationRequest("This is a panorama image. A lake", width=256, height=128, steps=2, seed=5)
        parent = library.save(Result(Image.fromarray(analytic), source, {"seed": 5}))

    form = GenerationForm()
    form.update({"prompt": "a red boat on the lake", "width": 256, "height": 128, "steps": 2, "seed": 9})
    form.update({"seed_locked": True, "feather": 4, "strength": 0.9})
    panel = EditPanel(form)
    window, viewer = gl_viewer(panel)
    worker = make_worker(shared_engine, store_factory=lambda: Library.open(library_dir))
    finished = []
    worker.job_finished.connect(finished.append)
    failed = []
    worker.job_failed.connect(lambda _id, report: failed.append(report))
    controller = EditController(form, panel, lambda: viewer, worker.enqueue, tmp_path / "temp", window)
    assert controller.start(parent.path)

    # A stroke through the viewer's own input path (Qt mouse events on the widget).
    panel.set_brush_size(20.0)
    width, height = viewer.input.viewport
    qtbot.mousePress(viewer, Qt.MouseButton.LeftButton, pos=QPoint(width // 3, height // 2))
    qtbot.mouseMove(viewer, QPoint(width // 2, height // 2))
    qtbot.mouseMove(viewer, QPoint(2 * width // 3, height // 2))
    qtbot.mouseRelease(viewer, Qt.MouseButton.LeftButton, pos=QPoint(2 * width // 3, height // 2))
    controller.tool.flush()
    painted = controller.model.array.copy()
    assert 0.01 < (painted > 0).mean() < 0.5
    # What the edit runs with and the library keeps: the mask by panorama.mask's one rule (its soft edge's
    # near-black and near-white levels read as black and white).
    used = painted.copy()
    used[used <= MASK_NOISE_LEVELS] = 0
    used[used >= 255 - MASK_NOISE_LEVELS] = 255

    job_id = controller.run_edit()
    assert job_id is not None
    worker.start()
    qtbot.waitUntil(lambda: bool(finished or failed), timeout=120_000)
    assert not failed, failed[0].details if failed else ""
    result = finished[0]
    assert result.save_error is None and result.request.is_edit

    entry = result.entry
    assert entry.parent_id == parent.id
    assert entry.mask_path is not None and entry.mask_path.parent == entry.path.parent
    with Image.open(entry.mask_path) as stored:
        assert np.array_equal(np.asarray(stored), used)
    assert entry.request().mask_image == str(entry.mask_path)
    with Library.open(library_dir) as library:
        assert [c.id for c in library.children(parent.id)] == [entry.id]

    # Kept pixels (far from the stroke) are the parent's; the stroke changed the picture.
    edited = np.asarray(Image.open(entry.path).convert("RGB")).astype(int)
    original = analytic.astype(int)
    far = np.asarray(Image.fromarray(painted).filter(_grow(17))) == 0
    assert np.abs(edited - original)[far].max() <= 1
    assert np.abs(edited - original)[painted == 255].mean() > 5

    # The result becomes the panorama being edited; the mask is kept for the next edit.
    controller.on_result(result)
    assert controller.source == Path(result.saved_path)
    assert np.array_equal(controller.model.array, painted)
    controller.stop()


def _grow(size: int):
    from PIL import ImageFilter

    return ImageFilter.MaxFilter(size)
