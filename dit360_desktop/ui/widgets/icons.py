"""The app's own icons: small SVGs in ``resources/icons/``, drawn for the dark theme.

``AppStyle`` hands the same set to every dialog Qt builds itself (message boxes, the file dialog), so no
stock colour icon (green hand, red cross, floppy disk, coloured balls on Yes/No) appears next to the
flat toolbar icons.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import QIcon, QIconEngine, QPainter, QPixmap
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


# Disabled icons are drawn faint: Qt's generated grey of a light-grey line icon looked still enabled.
DISABLED_OPACITY = 0.3


@cache
def icon(name: str) -> QIcon:
    path = paths.resource("icons", f"{name}.svg")
    if not path.is_file():
        raise FileNotFoundError(f"The icon {path} is missing from the installation.")
    return QIcon(FaintWhenDisabled(str(path)))


class FaintWhenDisabled(QIconEngine):
    """The SVG as it is, and at DISABLED_OPACITY in the Disabled mode (rendered on demand, per size)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path
        self._svg = QIcon(path)

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        if mode == QIcon.Mode.Disabled:
            painter.save()
            painter.setOpacity(painter.opacity() * DISABLED_OPACITY)
            self._svg.paint(painter, rect, Qt.AlignmentFlag.AlignCenter, QIcon.Mode.Normal, state)
            painter.restore()
        else:
            self._svg.paint(painter, rect, Qt.AlignmentFlag.AlignCenter, mode, state)

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        pixmap = QPixmap(size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        self.paint(painter, QRect(QPoint(0, 0), size), mode, state)
        painter.end()
        return pixmap

    def scaledPixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State, scale: float) -> QPixmap:
        pixmap = self.pixmap(size * scale, mode, state)
        pixmap.setDevicePixelRatio(scale)
        return pixmap

    def actualSize(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QSize:
        return self._svg.actualSize(size, mode, state)

    def clone(self) -> QIconEngine:
        return FaintWhenDisabled(self._path)

    def key(self) -> str:
        return "FaintWhenDisabled"


class AppStyle(QProxyStyle):
    """Fusion with the app's icons for Qt's own dialogs.

    Only ``standardIcon`` is overridden: Qt asks for style hints thousands of times while it builds the
    window, and a Python ``styleHint`` cost 45 ms of start-up. Dialog buttons lose their icons through
    the stylesheet instead (``dialogbuttonbox-buttons-have-icons`` in style.qss).
    """

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
