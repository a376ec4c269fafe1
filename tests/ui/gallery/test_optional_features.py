"""Issue 21, item 5: upscaling failed only after queueing when its library was missing, in a dialog
titled "The model is not installed" that told the person to run pip and offered the FLUX model manager.
Optional features are now checked before anything is queued, in the person's words, and an installation
without a feature does not offer it (the bundle build ships exactly the table the app checks)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox, QWidget

from dit360_desktop.core.upscale.model import UpscalerUnavailableError
from dit360_desktop.panorama import features
from dit360_desktop.panorama.features import unavailable_message
from dit360_desktop.ui.common.jobs import ErrorKind, error_report
from dit360_desktop.ui.gallery import upscale_action
from dit360_desktop.ui.gallery.export_dialog import ExportDialog
from dit360_desktop.ui.widgets.dialogs import MODEL_ERROR_KINDS

REPO = Path(__file__).resolve().parents[3]


class FakeEntry:
    def __init__(self, path: Path) -> None:
        self.path, self.missing, self.width, self.height, self.id = path, False, 256, 128, 1
        self.metadata = {}


class FakeGallery:
    def __init__(self, entry) -> None:
        self.entry, self.actions = entry, []

    def current_entry(self):
        return self.entry

    def add_entry_action(self, action) -> None:
        self.actions.append(action)


def without(monkeypatch: pytest.MonkeyPatch, *missing: str) -> None:
    """This installation lacks the ``missing`` features' libraries and has every other one."""
    monkeypatch.setattr(features, "missing_modules", lambda key: ["lib"] if key in missing else [])


def test_upscale_is_not_offered_and_nothing_is_queued_without_its_library(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    without(monkeypatch, "upscale")
    image = tmp_path / "pano.png"
    image.write_bytes(b"")
    window = QWidget()
    qtbot.addWidget(window)
    queued, told, dialogs = [], [], []

    class Worker:
        def enqueue_upscale(self, job, request) -> None:
            queued.append(job)

    monkeypatch.setattr(QMessageBox, "information", lambda parent, title, text: told.append(text))
    monkeypatch.setattr(upscale_action, "UpscaleDialog", lambda *a, **k: dialogs.append(a))
    gallery = FakeGallery(FakeEntry(image))
    action = upscale_action.attach_upscale(gallery, Worker(), window)
    assert gallery.actions == [action] and not action.isVisible()
    action.trigger()  # a shortcut or a stale menu: still refused before anything happens
    assert queued == [] and dialogs == []
    assert told == [unavailable_message("upscale")]
    assert "pip" not in told[0] and "Upscaling is not included" in told[0]


def test_upscale_is_offered_when_installed(qtbot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(features, "missing_modules", lambda key: [])
    window = QWidget()
    qtbot.addWidget(window)
    action = upscale_action.attach_upscale(FakeGallery(None), object(), window)
    assert action.isVisible()


def test_a_late_failure_is_not_a_missing_model() -> None:
    report = error_report(UpscalerUnavailableError(unavailable_message("upscale")))
    assert report.kind is ErrorKind.FEATURE_UNAVAILABLE and report.kind not in MODEL_ERROR_KINDS
    assert report.title == "Not available in this installation"
    assert "pip" not in report.message


def test_exr_export_is_not_offered_without_openexr(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    without(monkeypatch, "exr")
    entry = FakeEntry(tmp_path / "pano.png")
    dialog = ExportDialog(entry, initial_format="exr", folder=tmp_path, folders={})
    qtbot.addWidget(dialog)
    offered = [dialog.format.itemData(i) for i in range(dialog.format.count())]
    assert "exr" not in offered and "hdr" in offered and "jpeg-gpano" in offered
    faces = [dialog.face_format.itemData(i) for i in range(dialog.face_format.count())]
    assert faces == ["png", "jpeg"]
    assert dialog.selected_format() != "exr"


def test_the_bundle_build_uses_the_apps_feature_table() -> None:
    from dit360_desktop.selftest.features import FEATURE_MODULES

    # packaging/bundle_config.py and dit360.spec bundle (and --require-features demands) this table.
    assert FEATURE_MODULES is features.FEATURE_MODULES
    assert "selftest.features import FEATURE_MODULES" in (REPO / "packaging" / "bundle_config.py").read_text()
    assert FEATURE_MODULES["upscale"] == ("spandrel", "torchvision")
