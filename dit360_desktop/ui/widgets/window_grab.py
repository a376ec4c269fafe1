"""Grab a window as the user sees it, 3D view included.

``QWidget.grab()`` paints the widget tree into a pixmap, but the 3D view draws in its own native OpenGL
window (see ``viewer.gl_widget``), which widget painting never reaches; its frame is read back from
OpenGL and painted over the spot where it sits.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint
from PySide6.QtGui import QPainter, QPixmap
from PySide6.QtWidgets import QWidget


def grab_window(widget: QWidget) -> QPixmap:
    from dit360_desktop.ui.viewer.gl_widget import PanoramaViewer

    pixmap = widget.grab()
    viewers = [
        v for v in widget.findChildren(PanoramaViewer) if v.isVisible() and v.window() is widget.window()
    ]
    if isinstance(widget, PanoramaViewer):
        viewers.append(widget)
    if not viewers:
        return pixmap
    painter = QPainter(pixmap)
    try:
        for viewer in viewers:
            if viewer.gl_window().isExposed():
                frame = viewer.grabFramebuffer()
                frame.setDevicePixelRatio(pixmap.devicePixelRatio())
                painter.drawImage(viewer.mapTo(widget, QPoint(0, 0)), frame)
    finally:
        painter.end()
    return pixmap
