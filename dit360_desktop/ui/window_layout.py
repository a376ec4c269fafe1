"""Where the panels sit: the panorama gets the room, the rest folds away.

The Generate panel is on the left and runs the full height; the queue and the history gallery share a
strip under the viewer, so the viewer is landscape (about 2:1 in a 1440×880 window) instead of a portrait
column between two side panels. Both sides fold away (F9, F10) and QMainWindow's saved state remembers
it. Every dock exists from the first frame (the gallery's slot holds a placeholder until the library has
opened), so nothing jumps when the history arrives.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QWidget

Area = Qt.DockWidgetArea
# The strip's height at first start: one row of gallery tiles plus its search line.
HISTORY_HEIGHT = 250
QUEUE_WIDTH = 330


class _Placeholder(QLabel):
    """Holds the history dock's size until the gallery replaces it."""

    def __init__(self) -> None:
        super().__init__("Opening the library…")
        self.setObjectName("Hint")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)

    def sizeHint(self) -> QSize:
        return QSize(700, HISTORY_HEIGHT)


def build_bottom_docks(window: QMainWindow, queue_panel: QWidget) -> tuple[QDockWidget, QDockWidget]:
    """The queue and the history dock (with a placeholder), side by side under the viewer."""
    # The left panel keeps its full height; the bottom strip spans the viewer only.
    window.setCorner(Qt.Corner.BottomLeftCorner, Area.LeftDockWidgetArea)
    window.setCorner(Qt.Corner.TopLeftCorner, Area.LeftDockWidgetArea)
    window.setCorner(Qt.Corner.BottomRightCorner, Area.RightDockWidgetArea)
    queue = QDockWidget("Queue", window)
    queue.setObjectName("QueueDock")
    queue.setWidget(queue_panel)
    queue.setToolTip("Generations waiting to run.")
    history = QDockWidget("History", window)
    history.setObjectName("HistoryDock")
    history.setWidget(_Placeholder())
    window.addDockWidget(Area.BottomDockWidgetArea, queue)
    window.splitDockWidget(queue, history, Qt.Orientation.Horizontal)
    window.resizeDocks([queue], [QUEUE_WIDTH], Qt.Orientation.Horizontal)
    window.resizeDocks([history], [HISTORY_HEIGHT], Qt.Orientation.Vertical)
    return queue, history


def bind_panel_toggle(action: QAction, docks: list[QDockWidget]) -> None:
    """``action`` (checkable) shows or hides ``docks`` together and follows them when they change."""
    action.setChecked(any(not d.isHidden() for d in docks))

    def show(checked: bool) -> None:
        for dock in docks:
            dock.setVisible(checked)

    action.triggered.connect(show)
    for dock in docks:
        dock.toggleViewAction().toggled.connect(
            lambda _=False: action.setChecked(any(not d.isHidden() for d in docks))
        )


def orientation_for(area: Qt.DockWidgetArea) -> Qt.Orientation:
    """How a panel inside a dock at ``area`` lays out its two halves (side by side in a strip)."""
    if area in (Area.TopDockWidgetArea, Area.BottomDockWidgetArea):
        return Qt.Orientation.Horizontal
    return Qt.Orientation.Vertical
