"""The pictures of docs/guides.md ("In the app"), made through the real window: regions painted on the
start-up sample, a sketch on the sphere, a run with both (the tiny random-weight model: its result is
noise), and the guides tinted over that result. Each step checks what it shows; with DIT360_SCREENSHOTS=1
the pictures go into docs/screenshots/."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt

from dit360_desktop import paths
from tests.ui.guides.conftest import drag, save_shot


def _scroll_to(window, widget) -> None:
    """Scroll the side column down to ``widget`` (vertically only: the column is a few pixels narrower
    than the parameters panel, and a horizontal scroll would cut the labels off)."""
    scroll = window.side_panel.scroll
    top = widget.mapTo(scroll.widget(), QPoint(0, 0)).y()
    scroll.verticalScrollBar().setValue(max(0, top - 8))
    scroll.horizontalScrollBar().setValue(0)


def _points(width: int, height: int, pairs) -> list[tuple[int, int]]:
    return [(int(width * fx), int(height * fy)) for fx, fy in pairs]


@pytest.mark.gl
def test_pictures_for_the_guides_page(
    qtbot, make_window, make_worker, shared_engine, tiny_flux_dir, tmp_path
):
    from dit360_desktop.history.library import Library
    from dit360_desktop.testing.tiny_control import build_tiny_control_lora

    worker = make_worker(shared_engine, store_factory=lambda: Library.open(paths.default_library_dir()))
    window = make_window(worker, size=(1440, 900))
    panel, viewer, guides = window.guides.panel, window.viewer, window.guides
    sample = viewer.panorama
    viewer.camera.look_at(150.0, -5.0)
    viewer.camera.fov = 110.0
    width, height = viewer.input.viewport

    # Regions on the sample: a barn on the ground left of the seam, mountains on the horizon right of it.
    panel.regions.add_button.click()
    panel.regions.add_button.click()
    barn, hills = guides.tools.regions.regions
    barn.row.prompt.setText("a red wooden barn")
    hills.row.prompt.setText("snowy mountains")
    panel.regions.size.setValue(14.0)
    barn.row.paint.click()
    drag(qtbot, viewer, _points(width, height, [(0.15, 0.7), (0.3, 0.75), (0.4, 0.7)]))
    hills.row.paint.click()
    drag(qtbot, viewer, _points(width, height, [(0.55, 0.4), (0.75, 0.35), (0.95, 0.42)]))
    guides.tools.paint.flush()
    qtbot.waitUntil(lambda: barn.model.array.any() and hills.model.array.any())
    _scroll_to(window, panel.regions)
    qtbot.mouseMove(viewer, QPoint(*_points(width, height, [(0.8, 0.38)])[0]))
    qtbot.wait(300)
    save_shot(window, "guides-regions.png")
    panel.regions.use_button.click()
    assert window.form["regions_file"] is not None
    hills.row.paint.click()  # stop painting

    # A sketch: a horizon across the seam, a peak, and a light-grey fill.
    panel.sketch_button.click()
    sketch = guides.tools.sketch
    panel.sketch.size.setValue(1.5)
    drag(qtbot, viewer, _points(width, height, [(0.02, 0.55), (0.5, 0.55), (0.98, 0.55)]))
    drag(qtbot, viewer, _points(width, height, [(0.3, 0.55), (0.45, 0.25), (0.6, 0.55)]))
    panel.sketch.shade.setCurrentText("Light grey")
    panel.sketch.size.setValue(6.0)
    drag(qtbot, viewer, _points(width, height, [(0.42, 0.45), (0.48, 0.45)]))
    guides.tools.paint.flush()
    qtbot.waitUntil(lambda: 170 in np.unique(sketch.layer.shown))
    _scroll_to(window, panel.sketch_button)
    qtbot.mouseMove(viewer, QPoint(*_points(width, height, [(0.7, 0.3)])[0]))
    qtbot.wait(300)
    save_shot(window, "guides-sketch.png")
    assert sketch.use_as_control()
    panel.sketch.done_button.click()
    with Image.open(window.form["control_image"]) as control:
        assert control.size == (sample.shape[1], sample.shape[0])

    # A run with the sketch as control (a random Control LoRA for the tiny model) and the regions.
    lora = build_tiny_control_lora(tmp_path / "control.safetensors", tiny_flux_dir / "transformer")
    window.form.set("control_lora", str(lora))
    window.prompt_panel.prompt_edit.setPlainText("a farm in the hills")
    window.params_panel.set_size(256, 128)
    window.params_panel.steps.setValue(2)
    window.params_panel.set_seed(11, lock=True)
    window.prompt_panel.prompt_edit.setFocus()
    qtbot.keyClick(window.prompt_panel.prompt_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.last_finished is not None, timeout=180_000)
    finished = window.last_finished
    assert finished.request.control_image == window.form["control_image"]
    assert finished.request.regions_file == window.form["regions_file"]
    qtbot.waitUntil(lambda: viewer.panorama is not None and viewer.panorama.shape == (128, 256, 3))
    result = viewer.panorama

    # The guides over the result (fitted to its size): the control in cyan, the regions in their colours.
    panel.show_on_sphere.setChecked(True)
    shown = viewer.panorama
    assert shown is not result and shown.shape == result.shape and not np.array_equal(shown, result)
    _scroll_to(window, panel.show_on_sphere)
    qtbot.wait(300)
    save_shot(window, "guides-control-overlay.png")
