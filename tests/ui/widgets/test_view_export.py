"""Snapshot and perspective export start from the view: presets, live preview, format-specific fields,
PNG/JPEG/WebP files, folders remembered per kind."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QMainWindow

from dit360_desktop.panorama.projection import equirect_to_perspective
from dit360_desktop.ui.common.camera import CameraView, ViewMode
from dit360_desktop.ui.common.image_input import qimage_to_rgb
from dit360_desktop.ui.widgets.view_export import (
    ViewExportForm,
    preview_size,
    save_view_picture,
)


def _gradient(width: int = 256, height: int = 128) -> np.ndarray:
    x = np.linspace(0, 255, width, dtype=np.uint8)
    y = np.linspace(0, 255, height, dtype=np.uint8)
    return np.stack(
        [np.tile(x, (height, 1)), np.tile(y[:, None], (1, width)), np.full((height, width), 90, np.uint8)], -1
    )


def test_form_starts_from_the_view_and_shows_only_what_applies(qtbot):
    rendered = []

    def render(view, width, height):
        rendered.append((view, width, height))
        return np.zeros((height, width, 3), np.uint8)

    form = ViewExportForm(CameraView(-40.0, 12.5, 75.0, ViewMode.PERSPECTIVE), render)
    qtbot.addWidget(form)
    form.show()
    assert (form.yaw.value(), form.pitch.value(), form.fov.value()) == (-40.0, 12.5, 75.0)
    assert form.picture_size() == (1920, 1080)
    assert [form.preset.itemData(i) for i in range(form.preset.count())] == [
        (1920, 1080), (3840, 2160), (2048, 2048), (1080, 1920), None,
    ]  # fmt: skip
    # PNG has no quality; JPEG and WebP do. The size fields show for a custom size only.
    assert form.selected_format() == "png" and not form.quality.isVisible()
    form.set_format("jpeg")
    assert form.quality.isVisible() and form.suffix() == ".jpg"
    form.set_format("webp")
    assert form.quality.isVisible() and form.suffix() == ".webp"
    assert not form.width_spin.isVisible()
    form.preset.setCurrentIndex(3)
    assert form.picture_size() == (1080, 1920)
    form.preset.setCurrentIndex(form.preset.count() - 1)
    assert form.width_spin.isVisible()
    form.preset.setCurrentIndex(0)
    form.width_spin.setValue(1000)  # typing a size switches the preset to Custom
    assert form.preset.currentData() is None and form.picture_size() == (1000, 1080)
    # The preview follows the edits (debounced) with the export's aspect ratio.
    form.fov.setValue(60.0)
    qtbot.waitUntil(lambda: bool(rendered) and rendered[-1][0].fov == 60.0)
    view, width, height = rendered[-1]
    assert (view.yaw, view.pitch) == (-40.0, 12.5) and (width, height) == preview_size(1000, 1080)
    assert form.preview.pixmap().size().toTuple() == (width, height)


def test_other_modes_start_as_a_plain_perspective_view(qtbot):
    form = ViewExportForm(CameraView(30.0, -90.0, 260.0, ViewMode.LITTLE_PLANET), None)
    qtbot.addWidget(form)
    assert (form.yaw.value(), form.pitch.value(), form.fov.value()) == (30.0, 0.0, 90.0)
    assert form.view().mode is ViewMode.PERSPECTIVE


@pytest.mark.parametrize("file_format", ["png", "jpeg", "webp"])
def test_pictures_are_written_in_each_format(tmp_path, file_format):
    pixels = _gradient(96, 48)
    path = save_view_picture(pixels, tmp_path / f"view.{file_format}", file_format, quality=95)
    with Image.open(path) as image:
        assert image.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[file_format]
        back = np.asarray(image.convert("RGB")).astype(int)
    tolerance = 0 if file_format == "png" else 12
    assert np.abs(back - pixels).mean() <= max(tolerance, 0.01)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left


# ---- snapshot from the GL viewer -----------------------------------------------------------------


@pytest.fixture
def window_with_viewer(qtbot):
    from dit360_desktop.ui.viewer import create_viewer
    from dit360_desktop.ui.viewer.controls import ViewControls
    from dit360_desktop.ui.viewer.gl_widget import PanoramaViewer

    window = QMainWindow()
    qtbot.addWidget(window)
    viewer = create_viewer(window)
    assert isinstance(viewer, PanoramaViewer)
    window.setCentralWidget(viewer)
    controls = ViewControls(window, viewer)
    window.resize(480, 300)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: viewer.renderer is not None and viewer.renderer.initialized, timeout=10_000)
    viewer.set_panorama(_gradient())
    return window, viewer, controls


@pytest.mark.gl
def test_snapshot_starts_from_the_view_and_saves_each_format(window_with_viewer, tmp_path, qtbot):
    from dit360_desktop.ui.viewer.controls import SNAPSHOT_FOLDER, SnapshotDialog

    _window, viewer, controls = window_with_viewer
    viewer.camera.look_at(35.0, -10.0)
    viewer.camera.fov = 70.0
    dialog = SnapshotDialog(viewer, str(tmp_path))
    qtbot.addWidget(dialog)
    form = dialog.form
    assert (form.yaw.value(), form.pitch.value(), form.fov.value()) == (35.0, -10.0, 70.0)
    assert dialog.output_path() == tmp_path / "view-yaw+35-pitch-10.png"
    # The preview is the viewer's own render of that view.
    width, height = preview_size(1920, 1080)
    expected = qimage_to_rgb(viewer.snapshot(width, height, view=form.view()))
    assert np.array_equal(qimage_to_rgb(form.preview.pixmap().toImage()), expected)
    form.set_format("webp")
    assert dialog.output_path().suffix == ".webp"

    for file_format, suffix in (("png", ".png"), ("jpeg", ".jpg"), ("webp", ".webp")):
        path = controls.write_snapshot(tmp_path / f"shot{suffix}", form.view(), (160, 90), file_format, 95)
        with Image.open(path) as image:
            assert image.size == (160, 90)
            pixels = np.asarray(image.convert("RGB")).astype(int)
        reference = equirect_to_perspective(_gradient(), 35.0, -10.0, 70.0, 160, 90).astype(int)
        assert np.abs(pixels - reference).mean() < 6

    # The name typed decides the file type; the folder is remembered for the next snapshot (in the
    # window's settings when it has them).
    (tmp_path / "sub").mkdir()

    def accept_typed(self):
        self.path.setText(str(tmp_path / "sub" / "mine.jpg"))
        self.accept()
        return SnapshotDialog.DialogCode.Accepted

    original = SnapshotDialog.exec
    SnapshotDialog.exec = accept_typed
    try:
        saved = controls.save_snapshot()
    finally:
        SnapshotDialog.exec = original
    assert saved == tmp_path / "sub" / "mine.jpg"
    with Image.open(saved) as image:
        assert image.format == "JPEG" and image.size == (1920, 1080)
    assert controls.folders()[SNAPSHOT_FOLDER] == str(tmp_path / "sub")


# ---- the gallery's export dialog -----------------------------------------------------------------


@pytest.fixture
def entry(tmp_path):
    from dit360_desktop.history.entry import Entry

    path = tmp_path / "lib" / "pano.png"
    path.parent.mkdir()
    Image.fromarray(_gradient()).save(path)
    return Entry(
        id=1, path=path, thumbnail_path=None, prompt="a lake", negative_prompt="", params={}, seed=1,
        width=256, height=128, models={}, timings={}, created_at=datetime.now(), favorite=False, tags=(),
        missing=False,
    )  # fmt: skip


def test_export_dialog_starts_from_the_view_and_remembers_folders(qtbot, entry, tmp_path):
    from dit360_desktop.ui.gallery.export_dialog import ExportDialog

    folders: dict[str, str] = {}
    view = CameraView(120.0, 20.0, 60.0, ViewMode.PERSPECTIVE)
    dialog = ExportDialog(entry, initial_format="perspective", folder=tmp_path, view=view, folders=folders)
    qtbot.addWidget(dialog)
    dialog.show()
    assert (dialog.yaw.value(), dialog.pitch.value(), dialog.fov.value()) == (120.0, 20.0, 60.0)
    # The preview is the perspective projection of the file, from the view.
    width, height = preview_size(1920, 1080)
    reference = equirect_to_perspective(_gradient(), 120.0, 20.0, 60.0, width, height)
    shown = qimage_to_rgb(dialog.view_form.preview.pixmap().toImage())
    assert np.array_equal(shown, reference)
    # Only what applies: no 360° marker and no JPEG quality for a PNG view.
    assert not dialog.quality.isVisible() and not dialog.view_form.quality.isVisible()
    assert "360°" not in dialog.strip.text()
    dialog.view_form.set_format("jpeg")
    assert dialog.view_form.quality.isVisible() and dialog.output_path().suffix == ".jpg"
    dialog.view_form.quality.setValue(80)
    assert dialog.options().quality == 80
    dialog.format.setCurrentIndex(dialog.format.findData("png"))
    assert not dialog.quality.isVisible() and not dialog.view_form.isVisible()
    assert "keeps the 360° marker" in dialog.strip.text()
    dialog.format.setCurrentIndex(dialog.format.findData("jpeg-gpano"))
    assert dialog.quality.isVisible()
    dialog.format.setCurrentIndex(dialog.format.findData("cubemap"))
    assert not dialog.quality.isVisible()
    dialog.face_format.setCurrentIndex(1)  # JPEG faces have a quality
    assert dialog.quality.isVisible()

    dialog.format.setCurrentIndex(dialog.format.findData("perspective"))
    (tmp_path / "views").mkdir()
    dialog.path.setText(str(tmp_path / "views" / "a.jpg"))
    dialog.accept()
    assert folders == {"export-perspective": str(tmp_path / "views")}
    again = ExportDialog(entry, initial_format="perspective", folder=tmp_path, folders=folders)
    qtbot.addWidget(again)
    assert again.output_path().parent == tmp_path / "views"
    other = ExportDialog(entry, initial_format="png", folder=tmp_path, folders=folders)
    qtbot.addWidget(other)
    assert other.output_path().parent == tmp_path  # each kind keeps its own folder
