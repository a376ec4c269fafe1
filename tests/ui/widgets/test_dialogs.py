"""Error dialogs for model problems, the app's message boxes and its icons in Qt's own dialogs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QStyle

from dit360_desktop.panorama.errors import DamagedFileError, ModelInvalidError, ModelMissingError
from dit360_desktop.ui.common.jobs import ErrorKind, error_report
from dit360_desktop.ui.widgets.dialogs import (
    ErrorDialog,
    message_box,
    model_missing_report,
    remembered_folder,
    with_repair_advice,
)
from dit360_desktop.ui.widgets.icons import STANDARD_ICONS, AppStyle, icon


def test_every_model_error_offers_the_model_manager(qtbot) -> None:
    for error in (ModelMissingError("FLUX.1-dev is not installed."), ModelInvalidError("vae/ is missing.")):
        dialog = ErrorDialog(error_report(error))
        qtbot.addWidget(dialog)
        assert dialog.model_manager_button is not None
        assert dialog.model_manager_button.text() == "Open model manager…"
    other = ErrorDialog(error_report(ValueError("x")))
    qtbot.addWidget(other)
    assert other.model_manager_button is None


def test_model_missing_message_has_no_cli_hints() -> None:
    for available in (True, False):
        report = model_missing_report("FLUX.1-dev is not installed.", manager_available=available)
        assert report.kind is ErrorKind.MODEL_MISSING
        for hint in ("dit360 ", "--model", "main.py", "`"):
            assert hint not in report.message
        assert report.message.lower().count("model manager") <= 1


def test_repair_advice_follows_the_damaged_files_own_advice(tmp_path) -> None:
    error = DamagedFileError(tmp_path / "model.safetensors", "model.safetensors is damaged or incomplete")
    report = error_report(error)
    assert report.damaged_file == tmp_path / "model.safetensors"
    assert report.message == "model.safetensors is damaged or incomplete. Delete it and download it again."
    assert with_repair_advice(report).message == (
        "model.safetensors is damaged or incomplete. Delete it and download it again. Or open the model "
        "manager and press Verify & repair: it downloads only that file."
    )
    assert error_report(ModelInvalidError("not FLUX")).damaged_file is None


def test_message_box_uses_app_icons_and_worded_buttons(qtbot) -> None:
    box = message_box(None, "warning", "Move?", "Move the files?", ("Move the files", "Cancel"))
    qtbot.addWidget(box)
    assert {b.text() for b in box.buttons()} == {"Move the files", "Cancel"}
    assert box.defaultButton().text() == "Move the files" and box.escapeButton().text() == "Cancel"
    assert box.icon() == QMessageBox.Icon.NoIcon and not box.iconPixmap().isNull()
    expected = icon("warning").pixmap(40, 40).toImage()
    assert box.iconPixmap().toImage() == expected


def test_app_style_replaces_stock_icons(qapp) -> None:
    style = AppStyle("Fusion")
    for standard, name in STANDARD_ICONS.items():
        assert style.standardIcon(standard).cacheKey() == icon(name).cacheKey()
    assert (
        style.standardIcon(QStyle.StandardPixmap.SP_TitleBarMenuButton).cacheKey() != icon("info").cacheKey()
    )


def test_dialog_buttons_have_no_stock_icons(qapp) -> None:
    from PySide6.QtWidgets import QDialogButtonBox

    from dit360_desktop.ui.theme import load_stylesheet

    previous = qapp.styleSheet()
    qapp.setStyle(AppStyle("Fusion"))
    qapp.setStyleSheet(load_stylesheet())
    try:
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        assert box.buttons() and all(button.icon().isNull() for button in box.buttons())
    finally:
        qapp.setStyleSheet(previous)


def test_remembered_folder(tmp_path: Path) -> None:
    folders = {"init-image": str(tmp_path)}
    assert remembered_folder(folders, "init-image") == str(tmp_path)
    assert remembered_folder({"init-image": str(tmp_path / "gone")}, "init-image") == str(Path.home())


def test_disabled_icons_are_faint(qapp) -> None:
    from PySide6.QtGui import QIcon

    def ink(image) -> int:
        return sum(image.pixelColor(x, y).alpha() for x in range(24) for y in range(24))

    reuse = icon("reuse")
    normal = ink(reuse.pixmap(24, 24).toImage())
    disabled = ink(reuse.pixmap(24, 24, QIcon.Mode.Disabled).toImage())
    assert normal > 1000 and 0.2 * normal < disabled < 0.4 * normal
    # Re-use and reset are told apart.
    assert reuse.pixmap(24, 24).toImage() != icon("reset").pixmap(24, 24).toImage()
