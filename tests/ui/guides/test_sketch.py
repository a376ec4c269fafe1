"""A sketch drawn on the sphere with the edit brush, through the real viewer, becomes the control image:
an equirect PNG of the panorama's size in the app's data folder, seam-exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.ui.guides.conftest import drag, pixel_under


@pytest.mark.gl
def test_a_sketch_across_the_seam_becomes_the_control_image(qtbot, window) -> None:
    from dit360_desktop import paths

    panel, viewer = window.guides.panel, window.viewer
    panel.sketch_button.click()
    sketch = window.guides.tools.sketch
    assert panel.sketch.isVisible() and sketch.sketching
    assert viewer.input.tool is window.guides.tools.paint.tool
    assert viewer.edit_mask is sketch.layer.shown  # tinted over the panorama while drawing
    assert sketch.layer.size == (256, 128)

    viewer.camera.look_at(180.0, 0.0)  # the 0/360° seam in the middle of the view
    panel.sketch.size.setValue(3.0)
    width, height = viewer.input.viewport
    points = [(int(width * f), height // 2) for f in (0.3, 0.5, 0.7)]
    drag(qtbot, viewer, points)
    window.guides.tools.paint.flush()
    qtbot.waitUntil(lambda: sketch.layer.shown.any())
    for x, y in points:
        assert pixel_under(sketch.layer.shown, viewer.camera.view, x, y, width, height) == 255

    # A second stroke in dark grey, below the horizon.
    panel.sketch.shade.setCurrentText("Dark grey")
    low = [(int(width * 0.45), int(height * 0.8)), (int(width * 0.55), int(height * 0.8))]
    drag(qtbot, viewer, low)
    window.guides.tools.paint.flush()
    qtbot.waitUntil(lambda: pixel_under(sketch.layer.shown, viewer.camera.view, *low[0], width, height) == 85)

    panel.sketch.use_button.click()
    written = Path(window.form["control_image"])
    assert written.parent == paths.data_dir() / "guides" and written.name.startswith("sketch-")
    with Image.open(written) as image:
        assert image.size == (256, 128) and image.mode == "RGB"
        pixels = np.asarray(image)
    assert np.array_equal(pixels[..., 0], sketch.layer.shown)
    assert set(np.unique(pixels)) <= set(range(256))
    # Seam-exact: the stroke crossing 0/360° is on both edges of the picture, on the same rows.
    middle = 64
    assert pixels[middle, 0, 0] == 255 and pixels[middle, -1, 0] == 255
    assert np.array_equal(pixels[:, 0, 0] > 0, pixels[:, -1, 0] > 0)
    assert 85 in np.unique(pixels) and "control image now" in panel.notice.text()

    # Undo takes back the dark grey stroke; Done gives the viewer back to looking around.
    panel.sketch.undo_button.click()
    assert 85 not in np.unique(sketch.layer.shown)
    panel.sketch.done_button.click()
    assert viewer.input.tool is None and viewer.edit_mask is None and not panel.sketch.isVisible()


@pytest.mark.gl
def test_an_empty_sketch_is_refused_with_a_sentence(qtbot, window) -> None:
    panel = window.guides.panel
    panel.sketch_button.click()
    panel.sketch.use_button.click()
    assert "Nothing is sketched" in panel.notice.text() and panel.notice.isVisible()
    assert window.form["control_image"] is None


@pytest.mark.gl
def test_sketching_waits_for_edit_mode_to_end(qtbot, window, tmp_path) -> None:
    from tests.ui.guides.conftest import analytic_panorama

    pano = tmp_path / "pano.png"
    Image.fromarray(analytic_panorama()).save(pano)
    window.editing.edit.start(pano)
    panel = window.guides.panel
    panel.sketch_button.click()
    assert "Leave edit mode" in panel.notice.text()
    assert window.viewer.input.tool is window.editing.edit.tool  # the edit brush keeps the viewer


def test_quitting_while_sketching_puts_the_brush_away(qtbot, window) -> None:
    """A quit that bypasses closeEvent (the app's aboutToQuit) still ends a sketch in progress: the paint
    tool lets go of the viewer and the sketch is no longer active."""
    window.guides.panel.sketch_button.click()
    tools = window.guides.tools
    assert tools.sketch.sketching and tools.paint.tool is not None
    window.shutdown()
    assert not tools.sketch.sketching and tools.paint.tool is None
    assert window.viewer.input.tool is None
