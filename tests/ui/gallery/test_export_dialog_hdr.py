"""The export dialog's linear formats: EXR, Radiance HDR, EXR cube faces and cross, the highlights setting;
each exported from the dialog's own options into tmp and read back."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from history_factory import make_result
from PIL import Image

from dit360_desktop.history.export import export_entry
from dit360_desktop.history.library import Library
from dit360_desktop.panorama import hdr, projection
from dit360_desktop.ui.gallery.export_dialog import FORMAT_LABELS, ExportDialog

OpenEXR = pytest.importorskip("OpenEXR")
cv2 = pytest.importorskip("cv2")


@pytest.fixture
def entry(tmp_path: Path):
    with Library.open(tmp_path / "library", trash=lambda p: shutil.move(p, tmp_path)) as library:
        saved = library.save(
            make_result("This is a panorama image. A lit hall", seed=4, width=128, height=64)
        )
        return library.get(saved.id)


def _pixels(entry) -> np.ndarray:
    with Image.open(entry.path) as opened:
        return np.asarray(opened.convert("RGB"))


def _read_exr(path: Path) -> np.ndarray:
    with OpenEXR.File(str(path)) as exr:
        return np.asarray(exr.channels()["RGB"].pixels, dtype=np.float32)


def _dialog(qtbot, entry, fmt: str, folder: Path) -> ExportDialog:
    dialog = ExportDialog(entry, initial_format=fmt, folder=folder, folders={})
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _rows_shown(dialog: ExportDialog) -> dict[str, bool]:
    widgets = {
        "quality": dialog.quality,
        "strip": dialog.strip,
        "face": dialog.face_size,
        "face_format": dialog.face_format,
        "highlights": dialog.highlights,
        "view": dialog.view_form,
    }
    return {name: widget.isVisible() for name, widget in widgets.items()}


def test_the_new_formats_are_offered_and_show_only_their_fields(qtbot, entry, tmp_path) -> None:
    assert {"exr", "hdr"} <= set(FORMAT_LABELS)
    dialog = _dialog(qtbot, entry, "exr", tmp_path)
    assert {"exr", "hdr"} <= {dialog.format.itemData(i) for i in range(dialog.format.count())}
    shown = {"quality": False, "strip": False, "face": False, "face_format": False, "highlights": True}
    assert _rows_shown(dialog) == {**shown, "view": False}
    assert dialog.output_path() == tmp_path / f"{entry.path.stem}.exr"
    dialog.format.setCurrentIndex(dialog.format.findData("hdr"))
    assert _rows_shown(dialog)["highlights"] and dialog.output_path().suffix == ".hdr"
    # PNG faces: no highlights; EXR faces: highlights, no quality, no metadata to strip.
    dialog.format.setCurrentIndex(dialog.format.findData("cubemap"))
    assert not dialog.highlights.isVisible() and dialog.strip.isVisible()
    dialog.face_format.setCurrentIndex(dialog.face_format.findData("exr"))
    assert dialog.highlights.isVisible() and not dialog.quality.isVisible() and not dialog.strip.isVisible()
    # The cross offers the face formats too, and its file name follows the one chosen.
    dialog.format.setCurrentIndex(dialog.format.findData("cubemap-cross"))
    assert dialog.face_format.isVisible() and dialog.output_path().suffix == ".exr"
    dialog.face_format.setCurrentIndex(dialog.face_format.findData("jpeg"))
    assert dialog.output_path().suffix == ".jpg" and dialog.quality.isVisible()
    assert not dialog.highlights.isVisible()
    assert dialog.options().highlight_stops == 0.0
    # Back on PNG, the linear fields are gone again.
    dialog.format.setCurrentIndex(dialog.format.findData("png"))
    assert not any(_rows_shown(dialog)[k] for k in ("highlights", "face_format", "face", "quality"))


@pytest.mark.parametrize("stops", [0.0, 2.5])
def test_exr_from_the_dialog_holds_the_linear_values(qtbot, entry, tmp_path, stops) -> None:
    dialog = _dialog(qtbot, entry, "exr", tmp_path)
    dialog.highlights.setValue(stops)
    dialog.path.setText(str(tmp_path / "world"))  # no suffix typed: the dialog adds it
    dialog.accept()
    options = dialog.options()
    assert options.format == "exr" and options.highlight_stops == stops
    [path] = export_entry(entry, dialog.output_path(), options)
    assert path == tmp_path / "world.exr"
    # As export_linear rounds: float32 first, then half.
    expected = hdr.to_linear(_pixels(entry), stops).astype(np.float32).astype(np.float16).astype(np.float32)
    got = _read_exr(path)
    assert got.shape == (64, 128, 3)
    np.testing.assert_array_equal(got, expected)
    assert (got.max() > 1.5) == (stops > 0)  # the highlights rise above white only when asked


def test_hdr_from_the_dialog_reads_back_within_rgbe_precision(qtbot, entry, tmp_path) -> None:
    dialog = _dialog(qtbot, entry, "hdr", tmp_path)
    dialog.highlights.setValue(1.0)
    dialog.accept()
    [path] = export_entry(entry, dialog.output_path(), dialog.options())
    assert path.suffix == ".hdr"
    bgr = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    got = bgr[..., ::-1]
    expected = hdr.to_linear(_pixels(entry), 1.0)
    # RGBE keeps 8 mantissa bits of the brightest channel: each value within 1/128 of that channel.
    tolerance = expected.max(axis=-1, keepdims=True) / 128 + 1e-6
    assert got.shape == expected.shape and np.all(np.abs(got - expected) <= tolerance)


def test_exr_cube_faces_and_cross_from_the_dialog(qtbot, entry, tmp_path) -> None:
    linear = hdr.to_linear(_pixels(entry), 0.0)
    faces = projection.equirect_to_cubemap(linear.astype(np.float32), 32)

    dialog = _dialog(qtbot, entry, "cubemap", tmp_path)
    dialog.face_format.setCurrentIndex(dialog.face_format.findData("exr"))
    dialog.face_size.setValue(32)
    dialog.accept()
    written = export_entry(entry, dialog.output_path(), dialog.options())
    assert sorted(p.name for p in written) == sorted(f"{name}.exr" for name in projection.FACE_NAMES)
    for name in projection.FACE_NAMES:
        got = _read_exr(dialog.output_path() / f"{name}.exr")
        np.testing.assert_array_equal(got, faces[name].astype(np.float16).astype(np.float32))

    cross = _dialog(qtbot, entry, "cubemap-cross", tmp_path)
    cross.face_format.setCurrentIndex(cross.face_format.findData("exr"))
    cross.face_size.setValue(32)
    cross.accept()
    [path] = export_entry(entry, cross.output_path(), cross.options())
    assert path.suffix == ".exr"
    expected = projection.cubemap_cross(faces).astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(_read_exr(path), expected)


def test_a_typed_cross_suffix_picks_the_face_format(qtbot, entry, tmp_path) -> None:
    dialog = _dialog(qtbot, entry, "cubemap-cross", tmp_path)
    dialog.path.setText(str(tmp_path / "cross.jpg"))
    dialog.accept()
    assert dialog.options().face_format == "jpeg" and dialog.output_path() == tmp_path / "cross.jpg"
    [path] = export_entry(entry, dialog.output_path(), dialog.options())
    assert path.read_bytes()[:2] == b"\xff\xd8"
