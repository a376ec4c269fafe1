"""Edit mode with qtbot: the panel bound to the form, painting through the viewer's input path, undo and
redo shortcuts, import/export, and the request "Run edit" queues."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt

from dit360_desktop.ui.common.camera import ViewMode, direction_at
from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.editing.controller import EditController
from dit360_desktop.ui.editing.panel import EditPanel


@pytest.fixture
def form() -> GenerationForm:
    form = GenerationForm()
    form.update({"prompt": "a lake with a red boat", "width": 256, "height": 128, "steps": 2})
    return form


def test_panel_is_bound_to_the_form(qtbot, form):
    panel = EditPanel(form)
    qtbot.addWidget(panel)
    panel.show()
    assert panel.method_combo.currentData() == "blend"
    assert not panel.numbers["tau"].isVisibleTo(panel) and not panel.source_prompt_edit.isVisibleTo(panel)
    assert panel.numbers["feather"].isVisibleTo(panel)
    panel.method_combo.setCurrentIndex(panel.method_combo.findData("reference"))
    assert form["edit_method"] == "reference"
    assert panel.numbers["tau"].isVisibleTo(panel) and panel.source_prompt_edit.isVisibleTo(panel)
    assert not panel.numbers["feather"].isVisibleTo(panel)
    form.set("tau", 30.0)
    assert panel.numbers["tau"].value() == 30.0
    panel.numbers["strength"].setValue(0.65)
    assert form["strength"] == 0.65
    panel.numbers["feather"].setValue(12)
    assert form["feather"] == 12 and isinstance(form["feather"], int)
    panel.source_prompt_edit.setText("a lake")
    assert form["source_prompt"] == "a lake"
    form.set("edit_method", "blend")
    assert panel.method_combo.currentData() == "blend"

    brushes = []
    panel.brush_changed.connect(brushes.append)
    panel.size_input.setValue(20.0)
    panel.erase_button.click()
    assert brushes[-1].radius_deg == 20.0 and brushes[-1].erase
    panel.set_coverage(0.0)
    assert not panel.run_button.isEnabled()
    panel.set_coverage(0.25)
    assert panel.run_button.isEnabled() and "25.0%" in panel.coverage_label.text()


def _controller(form, gl_viewer, tmp_path):
    panel = EditPanel(form)
    window, viewer = gl_viewer(panel)
    queued = []

    def enqueue(request):
        queued.append(request)
        return len(queued)

    controller = EditController(form, panel, lambda: viewer, enqueue, tmp_path / "edits", window)
    return controller, viewer, window, queued


def _drag(qtbot, viewer, points: list[tuple[int, int]]) -> None:
    qtbot.mousePress(viewer, Qt.MouseButton.LeftButton, pos=QPoint(*points[0]))
    for x, y in points[1:]:
        qtbot.mouseMove(viewer, QPoint(x, y))
    qtbot.mouseRelease(viewer, Qt.MouseButton.LeftButton, pos=QPoint(*points[-1]))


def _mask_at(model, direction) -> int:
    from dit360_desktop.panorama.projection import direction_to_equirect_uv

    u, v = direction_to_equirect_uv(direction)
    return int(model.array[min(model.height - 1, int(v * model.height)), int(u * model.width) % model.width])


@pytest.mark.gl
@pytest.mark.parametrize("mode", [ViewMode.PERSPECTIVE, ViewMode.FLAT])
def test_painting_through_the_viewer_marks_the_pixels_under_the_pointer(
    qtbot, form, gl_viewer, panorama_file, tmp_path, mode
):
    controller, viewer, window, _ = _controller(form, gl_viewer, tmp_path)
    assert controller.start(panorama_file)
    assert viewer.panorama.shape == (128, 256, 3)
    viewer.set_mode(mode)
    viewer.camera.look_at(170.0, 0.0)  # the seam is in view
    view_before = viewer.camera.view
    controller.panel.set_brush_size(3.0)
    width, height = viewer.input.viewport
    points = [(int(width * f), height // 2) for f in (0.3, 0.5, 0.7)]
    _drag(qtbot, viewer, points)
    controller.tool.flush()
    assert viewer.camera.view == view_before  # painting does not turn the view
    for x, y in points:
        direction = direction_at(viewer.camera.view, x, y, width, height)
        assert _mask_at(controller.model, direction) == 255
    qtbot.waitUntil(lambda: controller.panel.run_button.isEnabled())
    assert controller.panel.undo_button.isEnabled()

    # A right-drag still looks around.
    qtbot.mousePress(viewer, Qt.MouseButton.RightButton, pos=QPoint(100, 100))
    qtbot.mouseMove(viewer, QPoint(160, 100))
    qtbot.mouseRelease(viewer, Qt.MouseButton.RightButton, pos=QPoint(160, 100))
    assert viewer.camera.yaw != view_before.yaw

    # The mask reached the renderer: the viewer shows red where it was painted.
    assert viewer.edit_mask is controller.model.array
    assert viewer.renderer.mask.active

    # Ctrl+Z / Ctrl+Shift+Z.
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    viewer.setFocus()
    qtbot.keyClick(viewer, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert controller.model.is_empty
    qtbot.keyClick(
        viewer, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert not controller.model.is_empty

    controller.stop()
    assert viewer.input.tool is None and viewer.edit_mask is None
    assert not controller.panel.isVisible()


@pytest.mark.gl
def test_run_edit_builds_the_request_from_the_form_and_the_mask(
    qtbot, form, gl_viewer, panorama_file, tmp_path
):
    controller, _viewer, _, queued = _controller(form, gl_viewer, tmp_path)
    assert controller.run_edit() is None  # nothing open
    assert controller.start(panorama_file)
    errors = []
    controller.error.connect(lambda title, text: errors.append(text))
    assert controller.run_edit() is None
    assert "Nothing is painted" in errors[-1]

    mask = np.zeros((64, 128), np.uint8)
    mask[20:40, 100:128] = 255
    mask[20:40, 0:10] = 255  # across the seam
    Image.fromarray(mask).save(tmp_path / "hand.png")
    assert controller.import_mask(tmp_path / "hand.png")  # half size: resized to the panorama's
    form.update({"edit_method": "reference", "tau": 40.0, "source_prompt": "a lake"})
    assert controller.run_edit() == 1
    request = queued[0]
    assert request.is_edit and request.init_image == str(panorama_file)
    assert (request.width, request.height) == (256, 128)
    assert (request.edit_method, request.tau, request.source_prompt) == ("reference", 40.0, "a lake")
    with Image.open(request.mask_image) as stored:
        assert stored.size == (256, 128)
        assert np.array_equal(np.asarray(stored), controller.model.array)
    assert request.seed is not None
    request.validate()

    exported = tmp_path / "out" / "mask.png"
    exported.parent.mkdir()
    assert controller.export_mask(exported)
    with Image.open(exported) as image:
        assert np.array_equal(np.asarray(image), controller.model.array)

    (tmp_path / "square.png").write_bytes((tmp_path / "hand.png").read_bytes()[:40])
    assert not controller.import_mask(tmp_path / "square.png")
    assert "could not be read" in errors[-1]


@pytest.mark.gl
def test_only_two_to_one_panoramas_open_for_editing(qtbot, form, gl_viewer, tmp_path):
    controller, _, _, _ = _controller(form, gl_viewer, tmp_path)
    errors = []
    controller.error.connect(lambda title, text: errors.append(text))
    photo = tmp_path / "photo.jpg"
    Image.fromarray(np.zeros((300, 400, 3), np.uint8)).save(photo)
    assert not controller.start(photo)
    assert "not a 2:1 panorama" in errors[-1] and "Place in 360°" in errors[-1]
    assert not controller.start(Path(tmp_path / "missing.png"))
    assert not controller.active
