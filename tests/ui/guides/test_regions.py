"""Regions painted on the sphere through the real viewer become a regions file the engine's reader takes;
what the engine would refuse is refused in the panel with a sentence, and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.ui.guides.conftest import drag, pixel_under


def _paint_region(qtbot, window, region, points) -> None:
    region.row.paint.click()
    assert window.viewer.edit_mask is region.model.array
    drag(qtbot, window.viewer, points)
    window.guides.tools.paint.flush()
    qtbot.waitUntil(lambda: region.model.array.any())


@pytest.mark.gl
def test_two_painted_regions_are_written_and_read_back(qtbot, window) -> None:
    from dit360_desktop import paths
    from dit360_desktop.panorama.regions import read_regions

    panel, viewer = window.guides.panel, window.viewer
    panel.regions.add_button.click()
    panel.regions.add_button.click()
    controller = window.guides.tools.regions
    first, second = controller.regions
    first.row.prompt.setText("a red barn")
    second.row.prompt.setText("snowy mountains")
    panel.regions.size.setValue(10.0)
    width, height = viewer.input.viewport
    left = [(int(width * 0.2), int(height * 0.5)), (int(width * 0.35), int(height * 0.6))]
    right = [(int(width * 0.7), int(height * 0.3)), (int(width * 0.8), int(height * 0.3))]
    _paint_region(qtbot, window, first, left)
    view = viewer.camera.view
    _paint_region(qtbot, window, second, right)
    assert not first.row.paint.isChecked() and second.row.paint.isChecked()
    # The other region is shown in its colour on the panorama while this one is painted.
    shown = viewer.panorama
    x, y = left[0]
    expected = np.asarray(window.guides.tools.paint.panorama(), float) * 0.4 + np.array(first.colour) * 0.6
    seen = pixel_under(shown, view, x, y, width, height).astype(float)
    assert np.abs(seen - pixel_under(expected, view, x, y, width, height)).max() <= 1.0

    panel.regions.use_button.click()
    written = Path(window.form["regions_file"])
    assert written.parent.parent == paths.data_dir() / "guides"
    regions = read_regions(written)
    assert [r.prompt for r in regions] == ["a red barn", "snowy mountains"]
    for region, painted in zip(regions, (first, second), strict=True):
        with Image.open(region.mask) as mask:
            assert mask.size == (256, 128)
            assert np.array_equal(np.asarray(mask.convert("L")), painted.model.array)
    assert json.loads(written.read_text())[0] == {"prompt": "a red barn", "mask": "region-1.png"}
    assert pixel_under(first.model.array, view, *left[0], width, height) == 255
    # Painting stopped, the panorama is back.
    second.row.paint.click()
    assert viewer.input.tool is None and viewer.panorama is window.guides.tools.paint.panorama()


@pytest.mark.gl
def test_faults_are_sentences_and_nothing_is_written(qtbot, window) -> None:
    from dit360_desktop import paths

    panel = window.guides.panel
    panel.regions.use_button.click()
    assert "Add a region first" in panel.notice.text()
    panel.regions.add_button.click()
    region = window.guides.tools.regions.regions[0]
    width, height = window.viewer.input.viewport
    _paint_region(qtbot, window, region, [(width // 2, height // 2), (width // 2 + 30, height // 2)])

    # An empty prompt.
    panel.regions.use_button.click()
    assert panel.notice.text() == "Region 1 has no prompt: say what belongs in it."
    # A region with nothing painted.
    region.row.prompt.setText("a lake")
    panel.regions.add_button.click()
    window.guides.tools.regions.regions[1].row.prompt.setText("a forest")
    panel.regions.use_button.click()
    assert panel.notice.text() == "Region 2 has no mask: paint where it is on the sphere."
    assert window.form["regions_file"] is None
    assert not (paths.data_dir() / "guides").exists() or not any((paths.data_dir() / "guides").iterdir())

    # Up to 8: the ninth is refused.
    for _ in range(6):
        panel.regions.add_button.click()
    assert len(window.guides.tools.regions.regions) == 8 and not panel.regions.add_button.isEnabled()
    assert window.guides.tools.regions.add() is None
    assert "At most 8 regions" in panel.notice.text()
    # Removing one allows another.
    window.guides.tools.regions.regions[-1].row.remove.click()
    assert panel.regions.add_button.isEnabled() and len(window.guides.tools.regions.regions) == 7


@pytest.mark.gl
def test_a_regions_file_from_elsewhere_is_shown_in_the_list_with_its_masks_fitted(qtbot, window, tmp_path):
    masks = tmp_path / "regions"
    masks.mkdir()
    square = np.zeros((64, 64), np.uint8)
    square[:, :32] = 255
    Image.fromarray(square).save(masks / "left.png")  # 1:1, stretched to 2:1 with a note
    (masks / "regions.json").write_text(json.dumps([{"prompt": "a harbour", "mask": "left.png"}]))
    assert window.guides.tools.regions.regions == []  # the list exists (after the first frame, as in the app)
    window.form.set("regions_file", str(masks / "regions.json"))
    regions = window.guides.tools.regions.regions
    assert [r.row.prompt.text() for r in regions] == ["a harbour"]
    assert regions[0].model.array[:, :112].min() == 255 and regions[0].model.array[:, 144:].max() == 0
    assert "not 2:1" in window.guides.panel.notice.text()

    # Too far from 2:1 (a 10:1 strip) is refused naming the mask.
    Image.fromarray(np.full((10, 200), 255, np.uint8)).save(masks / "strip.png")
    (masks / "strip.json").write_text(json.dumps([{"prompt": "sky", "mask": "strip.png"}]))
    window.form.set("regions_file", str(masks / "strip.json"))
    assert "too far from the panorama's 256×128" in window.guides.panel.notice.text()
    assert [r.row.prompt.text() for r in window.guides.tools.regions.regions] == ["a harbour"]


def test_write_regions_refuses_what_the_engine_refuses(tmp_path) -> None:
    from dit360_desktop.ui.guides.guide_files import GuideError, RegionDraft, write_regions

    mask = np.zeros((64, 128), np.uint8)
    mask[10:20, 10:20] = 255
    with pytest.raises(GuideError, match="At most 8 regions"):
        write_regions([RegionDraft("x", mask)] * 9, tmp_path)
    with pytest.raises(GuideError, match="Region 2 has no prompt"):
        write_regions([RegionDraft("x", mask), RegionDraft("  ", mask)], tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_no_half_set(tmp_path, monkeypatch) -> None:
    """The JSON and its masks are one atomic set: a disk that fails on the last file leaves none."""
    import os

    from dit360_desktop.panorama import fileio
    from dit360_desktop.ui.guides.guide_files import RegionDraft, write_regions

    mask = np.zeros((64, 128), np.uint8)
    mask[10:20, 10:20] = 255
    real = fileio._write_all
    calls = []

    def fail_on_third(fd, data, temp):
        calls.append(temp)
        if len(calls) == 3:
            raise OSError(28, os.strerror(28))  # ENOSPC
        return real(fd, data, temp)

    monkeypatch.setattr(fileio, "_write_all", fail_on_third)
    with pytest.raises(OSError):
        write_regions([RegionDraft("a", mask), RegionDraft("b", mask)], tmp_path)
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == []


@pytest.mark.gl
def test_a_regions_file_restored_before_the_list_exists_is_listed_when_it_is_built(qtbot, window, tmp_path):
    mask = np.zeros((128, 256), np.uint8)
    mask[:, 100:150] = 255
    Image.fromarray(mask).save(tmp_path / "middle.png")
    (tmp_path / "regions.json").write_text(json.dumps([{"prompt": "a tower", "mask": "middle.png"}]))
    window.form.set("regions_file", str(tmp_path / "regions.json"))  # as the settings restore it
    regions = window.guides.tools.regions.regions
    assert [r.row.prompt.text() for r in regions] == ["a tower"]
    assert np.array_equal(regions[0].model.array, mask)


@pytest.mark.gl
def test_the_brush_passes_between_the_sketch_and_a_region(qtbot, window) -> None:
    panel, viewer = window.guides.panel, window.viewer
    panel.sketch_button.click()
    panel.regions.add_button.click()
    region = window.guides.tools.regions.regions[0]
    region.row.paint.click()
    assert viewer.input.tool.model is region.model
    assert not panel.sketch.isVisible() and not window.guides.tools.sketch.sketching
    panel.sketch_button.click()
    assert viewer.input.tool.model in window.guides.tools.sketch.layer.models.values()
    assert not region.row.paint.isChecked() and not panel.regions.brush_row.isVisible()
    assert viewer.panorama is window.guides.tools.paint.panorama()  # no region backdrop while sketching
