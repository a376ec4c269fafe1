"""Editing in the main window: menu entries, drop choices, the gallery's Edit action, and re-use of an
edit reopening its source with its mask."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QAction

from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result
from dit360_desktop.settings import Settings


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
    qtbot.waitUntil(lambda: window.gallery is not None, timeout=20_000)
    yield window
    window.close()


@pytest.mark.gl
def test_menus_drop_choices_and_gallery_action(qtbot, window, tmp_path, analytic):
    editing = window.editing
    assert editing.act_edit in window.menus.generate.actions()
    assert editing.act_place in window.menus.generate.actions()
    assert window.gallery.findChild(QAction, "act_edit_entry") is not None

    offered = []

    def choose(path, fields, choices):
        offered.append([key for key, _label, _tip in choices])
        return "place"

    window.drop.ask_use = choose
    photo = tmp_path / "photo.png"
    Image.fromarray(analytic[:96, :128]).save(photo)
    window.drop.open_path(photo)
    assert {"init", "place", "edit"} <= set(offered[0])
    assert editing.placement.active and not editing.edit.active
    pano = tmp_path / "pano.png"
    Image.fromarray(analytic).save(pano)
    window.drop.ask_use = lambda path, fields, choices: "edit"
    window.drop.open_path(pano)
    assert editing.edit.active and not editing.placement.active  # one tool at a time
    assert editing.edit_panel.isVisible() and not editing.placement_panel.isVisible()


@pytest.mark.gl
def test_reuse_of_an_edit_reopens_its_source_with_its_mask(qtbot, window, tmp_path, analytic):
    library = window.gallery.library
    source = GenerationRequest("This is a panorama image. A lake", width=256, height=128, seed=3)
    parent = library.save(Result(Image.fromarray(analytic), source, {}))
    mask = np.zeros((128, 256), np.uint8)
    mask[40:80, 200:256] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    edit_request = dataclasses.replace(
        source, prompt="This is a panorama image. A boat", init_image=str(parent.path),
        mask_image=str(tmp_path / "m.png"), edit_method="reference", tau=35.0, source_prompt="a lake",
    )  # fmt: skip
    edit = library.save(Result(Image.fromarray(analytic), edit_request, {}))
    (tmp_path / "m.png").unlink()  # the library kept its own copy

    window.gallery.reuse_parameters_requested.emit(dict(edit.params))
    assert window.form["edit_method"] == "reference" and window.form["tau"] == 35.0
    assert window.form["source_prompt"] == "a lake"
    controller = window.editing.edit
    assert controller.active and controller.source == parent.path
    assert np.array_equal(controller.model.array, mask)

    controller.stop()
    assert window.editing.edit_entry(edit) and controller.source == edit.path
    assert controller.model.is_empty

    # A dropped PNG of an edit restores its edit parameters too.
    window.form.update({"edit_method": "blend", "tau": 50.0, "source_prompt": ""})
    window.drop.ask_use = lambda path, fields, choices: window.drop.RESTORE
    window.drop.open_path(edit.path)
    assert (window.form["edit_method"], window.form["tau"], window.form["source_prompt"]) == (
        "reference",
        35.0,
        "a lake",
    )
