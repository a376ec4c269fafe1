"""The control image and region masks tinted over the panorama on the real viewer; control images computed
from the panorama on screen (Canny edges; the depth's model check)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.ui.guides.conftest import analytic_panorama


def _control_file(tmp_path: Path, size: tuple[int, int], name: str = "control.png") -> Path:
    width, height = size
    pixels = np.zeros((height, width), np.uint8)
    pixels[:, : width // 2] = 255  # the left half bright
    path = tmp_path / name
    Image.fromarray(pixels).save(path)
    return path


@pytest.mark.gl
def test_the_control_image_is_tinted_over_the_panorama_and_taken_off_again(qtbot, window, tmp_path) -> None:
    from dit360_desktop.ui.guides.palette import CONTROL_COLOUR

    panel, viewer = window.guides.panel, window.viewer
    original = viewer.panorama
    window.form.set("control_image", str(_control_file(tmp_path, (512, 256))))
    panel.show_on_sphere.setChecked(True)
    shown = viewer.panorama
    assert shown is not original and shown.shape == original.shape
    expected_left = np.rint(original[:, :128] * 0.4 + np.array(CONTROL_COLOUR) * 0.6)
    assert np.abs(shown[:, 8:120].astype(float) - expected_left[:, 8:120]).max() <= 1.0
    assert np.array_equal(shown[:, 136:], original[:, 136:])  # dark control: the panorama untouched
    assert not panel.notice.isVisible()  # 2:1 needs no notice

    # A 4:3 picture is fitted as the run will fit it (the form's fit: crop), with a notice.
    window.form.set("control_image", str(_control_file(tmp_path, (400, 300), "square.png")))
    assert "square.png is 400×300, not 2:1: it is fitted by crop." in panel.notice.text()
    # A 10:1 strip cannot be fitted: refused with a sentence; the panorama is shown plainly.
    window.form.set("control_image", str(_control_file(tmp_path, (1000, 100), "strip.png")))
    assert "too far from the panorama's 256×128" in panel.notice.text()
    panel.show_on_sphere.setChecked(False)
    assert viewer.panorama is original


@pytest.mark.gl
def test_a_new_panorama_ends_the_overlay_of_the_old_one(qtbot, window, tmp_path) -> None:
    panel, viewer = window.guides.panel, window.viewer
    window.form.set("control_image", str(_control_file(tmp_path, (256, 128))))
    panel.show_on_sphere.setChecked(True)
    fresh = analytic_panorama()[::-1].copy()
    window.show_panorama(fresh)
    window.guides._panorama_changed()  # what a result or a selected history entry does
    assert window.guides.tools.paint.panorama() is fresh
    panel.show_on_sphere.setChecked(False)
    assert viewer.panorama is fresh


@pytest.mark.gl
def test_edges_of_the_panorama_become_the_control_image(qtbot, window) -> None:
    import cv2

    from dit360_desktop.panorama.edges import SEAM_WRAP

    pixels = np.full((128, 256, 3), 40, np.uint8)
    pixels[40:90, :30] = 220  # a bright block across the seam
    pixels[40:90, -30:] = 220
    window.show_panorama(pixels)
    window.guides.panel.canny_button.click()
    qtbot.waitUntil(lambda: window.form["control_image"] is not None, timeout=20_000)
    with Image.open(window.form["control_image"]) as image:
        edges = np.asarray(image)
    assert edges.shape == (128, 256, 3)
    grey = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    wrapped = np.concatenate([grey[:, -SEAM_WRAP:], grey, grey[:, :SEAM_WRAP]], axis=1)
    assert np.array_equal(edges[..., 0], cv2.Canny(wrapped, 100, 200)[:, SEAM_WRAP:-SEAM_WRAP])
    assert edges[:, 28:32].any() and edges[:, -32:-28].any()  # the block's inner edges
    assert not edges[45:85, :3].any() and not edges[45:85, -3:].any()  # no edge at the seam
    assert "edges are the control image" in window.guides.panel.notice.text()


@pytest.mark.gl
def test_edges_without_opencv_are_a_sentence(qtbot, window, monkeypatch) -> None:
    from dit360_desktop.panorama.edges import MISSING_OPENCV

    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 raises ImportError
    window.guides.panel.canny_button.click()
    panel = window.guides.panel
    qtbot.waitUntil(lambda: "OpenCV" in panel.notice.text(), timeout=20_000)
    assert panel.notice.text() == MISSING_OPENCV
    assert window.form["control_image"] is None


@pytest.mark.gl
def test_depth_without_a_depth_model_says_so_and_offers_the_model_manager(qtbot, window, tmp_path) -> None:
    panel = window.guides.panel
    panel.depth_button.click()
    assert "select one in the history" in panel.notice.text()
    saved = tmp_path / "pano.png"
    Image.fromarray(analytic_panorama()).save(saved)
    window.guides._current_file = saved  # as a selected history entry sets it
    panel.depth_button.click()
    assert "No depth model is installed" in panel.notice.text()
    assert "Open the model manager" in panel.notice.text()
    assert panel.depth_need.button.isVisibleTo(panel)
    assert window.form["control_image"] is None


@pytest.mark.gl
def test_edit_mode_opened_over_the_overlay_keeps_its_panorama(qtbot, window, tmp_path) -> None:
    """Taking the overlay off puts the panorama back only over the guides' own tinted copy."""
    panel, viewer = window.guides.panel, window.viewer
    window.form.set("control_image", str(_control_file(tmp_path, (256, 128))))
    panel.show_on_sphere.setChecked(True)
    pano = tmp_path / "other.png"
    Image.fromarray(analytic_panorama()[:, ::-1].copy()).save(pano)
    assert window.editing.edit.start(pano)
    editing = viewer.panorama
    panel.show_on_sphere.setChecked(False)
    assert viewer.panorama is editing


@pytest.mark.gl
def test_the_overlay_of_an_8k_panorama_is_a_copy_at_most_4096_wide(qtbot, window, tmp_path) -> None:
    from dit360_desktop.ui.guides.guide_files import OVERLAY_MAX_WIDTH

    big = np.zeros((4096, 8192, 3), np.uint8)
    big[:, :, 1] = 100
    window.show_panorama(big)
    window.guides._panorama_changed()
    window.form.set("control_image", str(_control_file(tmp_path, (512, 256))))
    window.guides.panel.show_on_sphere.setChecked(True)
    shown = window.viewer.panorama
    assert shown.shape == (2048, OVERLAY_MAX_WIDTH, 3)
    assert shown[100, 100, 2] > 100 and shown[100, 3000, 2] == 0  # cyan on the bright half only
    window.guides.panel.show_on_sphere.setChecked(False)
    assert window.viewer.panorama is big
