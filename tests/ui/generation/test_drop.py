"""Drag and drop: broken files get a clear message, odd but valid images are converted, parameters restore."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QWindow
from PySide6.QtWidgets import QApplication, QWidget

from dit360_desktop.panorama.imageio import save_png
from dit360_desktop.ui.generation.drop import DropController, FitDialog, InitImage, is_two_to_one


class Harness:
    """A DropController on a plain widget, with the two questions answered by the test."""

    def __init__(self, qtbot, fit: str | None = "crop", restore: str = DropController.INIT) -> None:
        self.widget = QWidget()
        qtbot.addWidget(self.widget)
        self.drop = DropController(self.widget)
        self.drop.watch(self.widget)
        self.fit_asked: list[tuple[int, int]] = []
        self.restore_asked: list[dict] = []
        self.drop.choose_fit = lambda image: (self.fit_asked.append(image.size), fit)[1]
        self.choices: list[list[str]] = []

        def ask_use(path, fields, choices):
            self.restore_asked.append(fields)
            self.choices.append([key for key, _label, _tip in choices])
            return restore

        self.drop.ask_use = ask_use
        self.inits: list[InitImage] = []
        self.failures: list[tuple[str, str]] = []
        self.restored: list[dict] = []
        self.opened: list[np.ndarray] = []
        self.drop.init_image_chosen.connect(self.inits.append)
        self.drop.failed.connect(lambda title, message: self.failures.append((title, message)))
        self.drop.parameters_restored.connect(self.restored.append)
        self.drop.panorama_opened.connect(self.opened.append)


def _png_with_size(path: Path, width: int, height: int) -> Path:
    """A tiny, valid-looking PNG whose header declares width×height (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 16)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def _gradient(width: int = 64, height: int = 32) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.uint8)
    rgb = np.stack(
        [np.tile(x, (height, 1)), np.full((height, width), 80, np.uint8), np.tile(x[::-1], (height, 1))], -1
    )
    return Image.fromarray(rgb)


# ---- broken files: a message, never an exception, never an init image --------------------------


def _broken_files(tmp: Path) -> dict[str, Path]:
    text = tmp / "notes.png"
    text.write_text("this is not an image at all", encoding="utf-8")
    truncated_png = tmp / "cut.png"
    _gradient(256, 128).save(tmp / "full.png")
    data = (tmp / "full.png").read_bytes()
    truncated_png.write_bytes(data[: len(data) // 2])
    truncated_jpg = tmp / "cut.jpg"
    _gradient(256, 128).save(tmp / "full.jpg", quality=90)
    jpg = (tmp / "full.jpg").read_bytes()
    truncated_jpg.write_bytes(jpg[: len(jpg) // 3])
    gif = tmp / "anim.gif"
    _gradient().save(gif)
    bmp = tmp / "picture.bmp"
    _gradient().save(bmp)
    empty = tmp / "empty.jpg"
    empty.write_bytes(b"")
    return {
        "text-as-png": text,
        "truncated-png": truncated_png,
        "truncated-jpeg": truncated_jpg,
        "bomb": _png_with_size(tmp / "bomb.png", 100_000, 100_000),
        # Above the app's 16384×8192 limit, below Pillow's own bomb threshold.
        "too-large": _png_with_size(tmp / "huge.png", 17_000, 8_500),
        "gif": gif,
        "bmp": bmp,
        "empty": empty,
        "missing": tmp / "gone.png",
        "folder": tmp,
    }


@pytest.mark.parametrize(
    "kind, words",
    [
        ("text-as-png", "not a recognisable image"),
        ("truncated-png", "truncated or damaged"),
        ("truncated-jpeg", "truncated or damaged"),
        ("bomb", "decompression bomb"),
        ("too-large", "limit"),
        ("gif", "GIF"),
        ("bmp", "BMP"),
        ("empty", "image"),
        ("missing", "does not exist"),
        ("folder", "not a file"),
    ],
)
def test_broken_files_get_a_clear_message(qtbot, tmp_path, kind, words):
    path = _broken_files(tmp_path)[kind]
    harness = Harness(qtbot)
    assert harness.drop.open_path(path) is None
    assert harness.inits == [] and harness.restored == []
    assert len(harness.failures) == 1
    title, message = harness.failures[0]
    assert title == "The picture could not be used"
    assert words in message
    assert "Traceback" not in message


# ---- valid but unusual files are converted ------------------------------------------------------


def test_cmyk_jpeg_is_converted_to_rgb(qtbot, tmp_path):
    path = tmp_path / "cmyk.jpg"
    # Pure cyan in CMYK is (0, 255, 255) in RGB.
    Image.new("CMYK", (128, 64), (255, 0, 0, 0)).save(path, quality=95)
    harness = Harness(qtbot)
    init = harness.drop.open_path(path)
    assert init is not None and harness.failures == []
    pixel = init.preview[32, 64].astype(int)
    assert pixel[0] < 40 and pixel[1] > 200 and pixel[2] > 200
    assert init.preview.dtype == np.uint8 and init.preview.shape == (64, 128, 3)


def test_sixteen_bit_png_is_scaled_not_clipped(qtbot, tmp_path):
    path = tmp_path / "deep.png"
    values = np.full((64, 128), 32768, dtype=np.uint16)
    Image.fromarray(values).save(path)
    with Image.open(path) as check:
        assert check.mode.startswith("I")
    init = Harness(qtbot).drop.open_path(path)
    assert init is not None
    assert abs(int(init.preview[10, 10, 0]) - 128) <= 1


def test_alpha_is_composited_onto_grey(qtbot, tmp_path):
    path = tmp_path / "alpha.png"
    rgba = np.zeros((64, 128, 4), np.uint8)
    rgba[:, :64] = (255, 0, 0, 255)  # opaque red on the left, fully transparent on the right
    Image.fromarray(rgba, "RGBA").save(path)
    init = Harness(qtbot).drop.open_path(path)
    assert init is not None
    assert tuple(init.preview[32, 10]) == (255, 0, 0)
    assert tuple(init.preview[32, 120]) == (128, 128, 128)


def test_animated_webp_uses_the_first_frame(qtbot, tmp_path):
    path = tmp_path / "anim.webp"
    frames = [Image.new("RGB", (128, 64), colour) for colour in ((0, 200, 0), (200, 0, 0))]
    frames[0].save(path, save_all=True, append_images=frames[1:], lossless=True, duration=100)
    init = Harness(qtbot).drop.open_path(path)
    assert init is not None
    assert tuple(init.preview[30, 60]) == (0, 200, 0)


def test_tiff_is_accepted(qtbot, tmp_path):
    path = tmp_path / "scan.tif"
    _gradient(128, 64).save(path)
    init = Harness(qtbot).drop.open_path(path)
    assert init is not None and init.fit == "crop" and init.source_size == (128, 64)


# ---- non-2:1 pictures ask how to fit -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["crop", "pad", "stretch"])
def test_non_two_to_one_asks_for_a_fit(qtbot, tmp_path, mode):
    path = tmp_path / "square.png"
    _gradient(300, 300).save(path)
    harness = Harness(qtbot, fit=mode)
    init = harness.drop.open_path(path)
    assert harness.fit_asked == [(300, 300)]
    assert init is not None and init.fit == mode
    height, width = init.preview.shape[:2]
    assert width == 2 * height


def test_cancelling_the_fit_dialog_uses_nothing(qtbot, tmp_path):
    path = tmp_path / "tall.png"
    _gradient(100, 300).save(path)
    harness = Harness(qtbot, fit=None)
    assert harness.drop.open_path(path) is None
    assert harness.inits == [] and harness.failures == []


def test_two_to_one_is_used_without_asking(qtbot, tmp_path):
    path = tmp_path / "pano.png"
    _gradient(256, 128).save(path)
    harness = Harness(qtbot)
    assert harness.drop.open_path(path) is not None
    assert harness.fit_asked == []
    assert is_two_to_one(2048, 1024) and is_two_to_one(2050, 1024) and not is_two_to_one(2100, 1024)


def test_fit_dialog_previews_each_mode(qtbot):
    dialog = FitDialog(_gradient(300, 300))
    qtbot.addWidget(dialog)
    seen = {}
    for mode, button in dialog.buttons.items():
        button.setChecked(True)
        assert dialog.mode == mode
        pixmap = dialog.preview_label.pixmap()
        assert (pixmap.width(), pixmap.height()) == (480, 240)
        seen[mode] = pixmap.toImage()
    assert seen["crop"] != seen["pad"] and seen["pad"] != seen["stretch"]


# ---- recorded parameters ---------------------------------------------------------------------------


def test_our_png_offers_to_restore_its_parameters(qtbot, tmp_path):
    path = tmp_path / "ours.png"
    request = {
        "prompt": "This is a panorama image. a castle",
        "negative_prompt": "fog",
        "steps": 21,
        "guidance": 3.1,
        "seed": 4242,
        "width": 256,
        "height": 128,
        "true_cfg_scale": 1.5,
    }
    save_png(_gradient(256, 128), path, {"request": request, "seed": 4242})
    harness = Harness(qtbot, restore=DropController.RESTORE)
    assert harness.drop.open_path(path) is None
    assert harness.restore_asked and harness.restored == [request]
    assert harness.inits == []
    assert harness.opened and harness.opened[0].shape == (128, 256, 3)


def test_a_dropped_result_restores_its_guides_from_the_pictures_saved_beside_it(qtbot, tmp_path):
    """A PNG made on another machine names guide paths that are not here; the copies in its
    ``<name>.guides`` folder stand in for them, and a missing copy is said in the status line."""
    from dit360_desktop.panorama.guide_copies import GUIDES_KEY, guides_folder

    path = tmp_path / "moved" / "guided.png"
    path.parent.mkdir()
    request = {
        "prompt": "This is a panorama image. a castle",
        "width": 256,
        "height": 128,
        "seed": 7,
        "control_image": "/elsewhere/depth.png",
        "control_lora": "/elsewhere/depth-lora.safetensors",
        "reference_image": "/elsewhere/photo.jpg",
    }
    guides = {"control_image": "control.png", "reference_image": "reference.jpg"}
    save_png(_gradient(256, 128), path, {"request": request, GUIDES_KEY: guides})
    folder = guides_folder(path)
    folder.mkdir()
    Image.fromarray(np.zeros((128, 256, 3), np.uint8)).save(folder / "control.png")
    harness = Harness(qtbot, restore=DropController.RESTORE)
    notices: list[str] = []
    harness.drop.notice.connect(notices.append)
    assert harness.drop.open_path(path) is None
    (restored,) = harness.restored
    assert restored["control_image"] == str(folder / "control.png")
    assert restored["control_lora"] == request["control_lora"]
    # The reference's copy is gone and so is its original: that guide goes, and the status line says so.
    assert restored.get("reference_image") is None
    assert len(notices) == 1 and "reference image" in notices[0] and "guided.png" in notices[0]


def test_a1111_parameters_are_mapped_to_our_fields(qtbot, tmp_path):
    path = tmp_path / "forge.png"
    info = PngImagePlugin.PngInfo()
    info.add_text(
        "parameters",
        "a desert at noon\nNegative prompt: people\n"
        "Steps: 30, Sampler: Euler, CFG scale: 2.5, Distilled CFG Scale: 3.5, Seed: 7, Size: 512x256, "
        "Model: flux1-dev",
    )
    _gradient(256, 128).save(path, pnginfo=info)
    harness = Harness(qtbot, restore=DropController.RESTORE)
    harness.drop.open_path(path)
    assert harness.restored == [{
        "prompt": "a desert at noon", "negative_prompt": "people", "steps": 30, "guidance": 3.5,
        "seed": 7, "width": 512, "height": 256, "true_cfg_scale": 2.5,
    }]  # fmt: skip


def test_choosing_init_instead_of_restore_uses_the_picture(qtbot, tmp_path):
    path = tmp_path / "ours.png"
    save_png(_gradient(256, 128), path, {"request": {"prompt": "a castle"}, "seed": 1})
    harness = Harness(qtbot, restore=DropController.INIT)
    init = harness.drop.open_path(path)
    assert init is not None and harness.restored == []
    assert Harness(qtbot, restore=DropController.CANCEL).drop.open_path(path) is None


# ---- real drag-and-drop events -------------------------------------------------------------------


def _drop_events(paths: list[Path]) -> tuple[QDragEnterEvent, QDropEvent, QMimeData]:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)  # fmt: skip
    drop = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)  # fmt: skip
    return enter, drop, mime


def _send_drop(widget: QWidget | QWindow, path: Path) -> None:
    # As a real drag does: the drop only arrives after an accepted drag-enter.
    enter, drop, _mime = _drop_events([path])
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(widget, drop)
    assert drop.isAccepted()
    # The file is opened once the drop has returned (a dialog must not hold the dragging application).
    QApplication.processEvents()


def test_dropping_a_file_on_the_widget_loads_it(qtbot, tmp_path):
    path = tmp_path / "pano.jpg"
    _gradient(256, 128).save(path, quality=95)
    harness = Harness(qtbot)
    enter, drop, _mime = _drop_events([path])
    QApplication.sendEvent(harness.widget, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(harness.widget, drop)
    assert drop.isAccepted()
    qtbot.waitUntil(lambda: len(harness.inits) == 1)
    assert harness.inits[0].path == str(path)


def test_dropping_text_is_not_accepted(qtbot):
    harness = Harness(qtbot)
    mime = QMimeData()
    mime.setText("just words")
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)  # fmt: skip
    enter.setAccepted(False)
    QApplication.sendEvent(harness.widget, enter)
    assert not enter.isAccepted()


def test_window_shows_the_init_image_with_strength_and_removes_it(qtbot, tmp_path):
    from dit360_desktop.settings import Settings
    from dit360_desktop.ui.main_window import MainWindow

    window = MainWindow(Settings(), start_worker=False)
    qtbot.addWidget(window)
    # Other features add choices (editing's "Place in 360°"), so the window asks; answer "init image".
    window.drop.ask_use = lambda path, fields, choices: DropController.INIT
    window.show()
    qtbot.waitUntil(window.isVisible)
    path = tmp_path / "pano.png"
    _gradient(256, 128).save(path)
    assert window.params_panel.strength.isHidden()
    window.prompt_panel.prompt_edit.setPlainText("the same place at night")
    _send_drop(window, path)
    assert window.init_image is not None and window.init_image.path == str(path)
    assert window.init_card.isVisible() and not window.params_panel.strength.isHidden()
    assert np.array_equal(window.viewer.panorama, window.init_image.preview)
    request = window.build_request()
    assert request.init_image == str(path) and request.strength == pytest.approx(0.8)

    window.init_card.remove_button.click()
    assert window.init_image is None and window.params_panel.strength.isHidden()
    assert window.build_request().init_image is None

    # Over the 3D view, a platform may deliver the drop to the viewer's native GL window; it must
    # reach the same handler.
    from dit360_desktop.ui.viewer.gl_widget import PanoramaViewer

    if isinstance(window.viewer, PanoramaViewer):
        qtbot.waitUntil(lambda: window.viewer.renderer is not None, timeout=20_000)
        _send_drop(window.viewer.gl_window(), path)
        assert window.init_image is not None and window.init_image.path == str(path)
        window.init_card.remove_button.click()

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    _send_drop(window, broken)
    assert window.init_image is None
    dialog = window.last_error_dialog
    assert dialog is not None and "broken.png" in dialog.message_label.text()
    dialog.close()
    window.close()


def test_other_uses_are_offered_on_every_drop(qtbot, tmp_path):
    from dit360_desktop.ui.common.context import DropAction

    path = tmp_path / "pano.png"
    _gradient(256, 128).save(path)
    placed = []
    harness = Harness(qtbot, restore="place")
    harness.drop.add_action(
        DropAction("place", "Place in 360°", "tip", lambda p, image: placed.append((p, image.size)))
    )
    assert harness.drop.open_path(path) is None
    assert harness.choices == [["init", "place"]]  # no parameters recorded: no "restore"
    assert placed == [(path, (256, 128))] and harness.inits == []
    # A file with parameters offers all three, restore first.
    ours = tmp_path / "ours.png"
    save_png(_gradient(256, 128), ours, {"request": {"prompt": "a castle"}, "seed": 1})
    harness.drop.open_path(ours)
    assert harness.choices[-1] == ["restore", "init", "place"]


def test_drag_highlights_the_window_until_it_leaves(qtbot, tmp_path):
    from PySide6.QtGui import QDragLeaveEvent

    from dit360_desktop.ui.widgets.drop_zone import DropHighlight

    harness = Harness(qtbot)
    harness.widget.resize(300, 200)
    harness.widget.show()
    qtbot.waitExposed(harness.widget)
    enter, _drop, _mime = _drop_events([tmp_path / "x.png"])
    QApplication.sendEvent(harness.widget, enter)
    overlay = harness.widget.findChild(DropHighlight)
    assert harness.drop.highlighted and overlay is not None and overlay.isVisible()
    assert overlay.geometry() == harness.widget.rect()
    assert overlay.testAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
    QApplication.sendEvent(harness.widget, QDragLeaveEvent())
    assert harness.drop.highlighted  # a short grace: moving onto another watched widget is leave + enter
    qtbot.waitUntil(lambda: not harness.drop.highlighted, timeout=2000)
    assert not overlay.isVisible()
