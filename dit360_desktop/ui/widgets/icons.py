"""The app's own icons: small SVGs in ``resources/icons/``, drawn for the dark theme.

``AppStyle`` hands the same set to every dialog Qt builds itself (message boxes, the file dialog), so no
stock colour icon (green hand, red cross, floppy disk, coloured balls on Yes/No) appears next to the
flat toolbar icons.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QProxyStyle, QStyle, QStyleOption, QWidget

from dit360_desktop import paths

_SP = QStyle.StandardPixmap
# Qt's standard pixmaps that dialogs show, mapped to our icon names.
STANDARD_ICONS: dict[QStyle.StandardPixmap, str] = {
    _SP.SP_MessageBoxInformation: "info",
    _SP.SP_MessageBoxWarning: "warning",
    _SP.SP_MessageBoxCritical: "error",
    _SP.SP_MessageBoxQuestion: "question",
    _SP.SP_FileDialogBack: "back",
    _SP.SP_ArrowBack: "back",
    _SP.SP_ArrowForward: "forward",
    _SP.SP_FileDialogToParent: "folder-up",
    _SP.SP_FileDialogNewFolder: "folder-new",
    _SP.SP_FileDialogListView: "list",
    _SP.SP_FileDialogDetailedView: "details",
    _SP.SP_DirHomeIcon: "home",
    _SP.SP_DirIcon: "folder",
    _SP.SP_DirClosedIcon: "folder",
    _SP.SP_DirOpenIcon: "folder",
    _SP.SP_FileIcon: "file",
    _SP.SP_DialogHelpButton: "help",
    _SP.SP_BrowserReload: "reset",
}


@cache
def icon(name: str) -> QIcon:
    path = paths.resource("icons", f"{name}.svg")
    if not path.is_file():
        raise FileNotFoundError(f"The icon {path} is missing from the installation.")
    return QIcon(str(path))


class AppStyle(QProxyStyle):
    """Fusion with the app's icons for Qt's own dialogs, and no icons on dialog buttons."""

    def standardIcon(
        self,
        standard: QStyle.StandardPixmap,
        option: QStyleOption | None = None,
        widget: QWidget | None = None,
    ) -> QIcon:
        name = STANDARD_ICONS.get(standard)
        if name is not None:
            return icon(name)
        return super().standardIcon(standard, option, widget)

    def styleHint(self, hint: QStyle.StyleHint, option=None, widget=None, returnData=None) -> int:
        # Icons on OK/Cancel/Yes/No buttons are the mixed visual language the app avoids.
        if hint == QStyle.StyleHint.SH_DialogButtonBox_ButtonsHaveIcons:
            return 0
        return super().styleHint(hint, option, widget, returnData)
