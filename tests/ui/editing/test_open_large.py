"""Opening an 8192×4096 panorama for editing decodes it off the UI thread (issue 21.13): edit mode opens
when the pixels are in, and the window keeps answering meanwhile."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.settings import Settings

pytestmark = pytest.mark.gl


@pytest.fixture
def window(qtbot, make_worker, tmp_path):
    from dit360_desktop.ui.main_window import MainWindow

    window = MainWindow(
        Settings(), worker=make_worker(), library_dir_override=tmp_path / "library", start_worker=False
    )
    window.confirm_stop = lambda: True
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.first_exposed, timeout=20_000):
        window.show()
    yield window
    window.close()


def test_an_8192x4096_panorama_is_decoded_on_the_pool_and_edit_mode_opens(
    qtbot, window, tmp_path, monkeypatch
):
    from dit360_desktop.ui.editing import controller

    pano = tmp_path / "big.jpg"
    ramp = np.linspace(0, 255, 8192, dtype=np.float32)
    rows = np.linspace(0, 255, 4096, dtype=np.float32)[:, None]
    pixels = np.stack([np.broadcast_to(ramp, (4096, 8192)), np.broadcast_to(rows, (4096, 8192)),
                       np.full((4096, 8192), 90, np.float32)], axis=-1).astype(np.uint8)  # fmt: skip
    Image.fromarray(pixels).save(pano, quality=90)
    decoded_on = []
    real = controller.load_panorama

    def watched(path):
        decoded_on.append(threading.current_thread() is threading.main_thread())
        return real(path)

    monkeypatch.setattr(controller, "load_panorama", watched)
    edit = window.editing.edit
    assert edit.start(pano)
    # Returned before the decode: the UI thread is free, edit mode not open yet.
    assert edit.opening is not None and not edit.active
    qtbot.waitUntil(lambda: edit.active, timeout=60_000)
    assert decoded_on == [False]
    assert edit.model.array.shape == (4096, 8192)
    assert edit.source == pano


def test_a_small_panorama_opens_at_once(qtbot, window, tmp_path) -> None:
    pano = tmp_path / "small.png"
    Image.fromarray(np.zeros((256, 512, 3), np.uint8)).save(pano)
    edit = window.editing.edit
    assert edit.start(pano) and edit.active and edit.opening is None
