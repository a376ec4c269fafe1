"""The look of the app: Fusion with a dark palette and ``resources/style.qss``, and the high-contrast
variant chosen in Settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dit360_desktop import paths

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication


def load_stylesheet() -> str:
    """The dark theme; ``ICONS`` in the file stands for the icon folder, which moves when frozen."""
    text = paths.resource("style.qss").read_text(encoding="utf-8")
    return text.replace("ICONS", paths.resource("icons").as_posix())


def apply_theme(app: QApplication) -> None:
    """Fusion with a dark palette (so every widget the stylesheet does not name is dark too) + style.qss."""
    from PySide6.QtGui import QColor, QPalette

    from dit360_desktop.ui.widgets.icons import AppStyle

    # Fusion, with the app's icons in Qt's own dialogs (message boxes, the file dialog).
    app.setStyle(AppStyle("Fusion"))
    palette = QPalette()
    roles = QPalette.ColorRole
    for role, colour in (
        (roles.Window, "#1c2028"),
        (roles.WindowText, "#d9dee7"),
        (roles.Base, "#1a1e25"),
        (roles.AlternateBase, "#1e232b"),
        (roles.ToolTipBase, "#252a34"),
        (roles.ToolTipText, "#e8ecf2"),
        (roles.PlaceholderText, "#6c7485"),
        (roles.Text, "#d9dee7"),
        (roles.Button, "#2a303b"),
        (roles.ButtonText, "#d9dee7"),
        (roles.BrightText, "#ffffff"),
        (roles.Highlight, "#4c8dff"),
        (roles.HighlightedText, "#ffffff"),
        (roles.Link, "#6aa2ff"),
        (roles.Mid, "#323845"),
        (roles.Dark, "#15181e"),
        (roles.Shadow, "#0b0d10"),
    ):
        palette.setColor(role, QColor(colour))
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#5c6472"))
    app.setPalette(palette)
    app.setStyleSheet(load_stylesheet())


def apply_theme_choice(theme: str) -> None:
    """Restyle the running app: the dark stylesheet, plus the high-contrast additions when chosen."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return
    extra = (
        paths.resource("style-high-contrast.qss").read_text(encoding="utf-8")
        if theme == "high-contrast"
        else ""
    )
    app.setStyleSheet(load_stylesheet() + "\n" + extra)
