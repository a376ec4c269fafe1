"""Where the panels sit: the panorama gets the room, the rest folds away.

The Generate panel is on the left and the queue a narrow column on the right, both the full height; the
history gallery is a strip under the viewer, so the viewer is landscape (about 1.7:1 in a 1440×880
window, 2:1 with the queue folded) instead of a portrait column between two wide side panels. Both
sides fold away (F9, F10) and QMainWindow's saved state remembers it. Every dock exists from the first
frame (the gallery's slot holds a note until the library has opened), so nothing jumps when the history
arrives.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QStackedLayout, QWidget

Area = Qt.DockWidgetArea
# The strip's height at first start: one row of gallery tiles, its search line and count under the app's
# styles (its title bar included), so the gallery that replaces "Opening the library…" fits without the
# strip jumping (250 left it 7 px short once style.qss was applied).
HISTORY_HEIGHT = 260
QUEUE_WIDTH = 230


class DockSlot(QWidget):
    """A dock's permanent content: a note until ``set_content`` puts the real panel in its place.

    The dock keeps the size it had on the first frame as long as the panel's minimum fits in it (the
    window orients the gallery for the strip before placing it for that reason).
    """

    def __init__(self, note: str) -> None:
        super().__init__()
        self._stack = QStackedLayout(self)
        self._stack.setContentsMargins(0, 0, 0, 0)
        label = QLabel(note)
        label.setObjectName("Hint")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._stack.addWidget(label)
        self.content: QWidget | None = None

    def set_content(self, widget: QWidget) -> None:
        self._stack.addWidget(widget)
        self._stack.setCurrentWidget(widget)
        self.content = widget

    def sizeHint(self) -> QSize:
        return QSize(700, HISTORY_HEIGHT)


def build_bottom_docks(window: QMainWindow, queue_panel: QWidget) -> tuple[QDockWidget, QDockWidget]:
    """The queue column on the right and the history strip under the viewer; the strip shows "Opening the
    library…" until the gallery is attached, so the layout is final from the first frame."""
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
    history.setWidget(DockSlot("Opening the library…"))
    window.addDockWidget(Area.RightDockWidgetArea, queue)
    window.addDockWidget(Area.BottomDockWidgetArea, history)
    return queue, history


def default_strip_height(window: QMainWindow, queue: QDockWidget, history: QDockWidget) -> None:
    """The first-start sizes; QMainWindow ignores them until its layout has run once (shown)."""
    window.resizeDocks([queue], [QUEUE_WIDTH], Qt.Orientation.Horizontal)
    window.resizeDocks([history], [HISTORY_HEIGHT], Qt.Orientation.Vertical)


class PanelToggle:
    """A checkable ``action`` that shows or hides its docks together and follows them when they change;
    a dock a feature adds later joins with ``add`` (F10 hides the cluster dock with the queue)."""

    def __init__(self, action: QAction, docks: list[QDockWidget]) -> None:
        self.action = action
        self.docks: list[QDockWidget] = []
        action.triggered.connect(self._show)
        for dock in docks:
            self.add(dock)

    def add(self, dock: QDockWidget) -> None:
        self.docks.append(dock)
        dock.toggleViewAction().toggled.connect(lambda _=False: self._follow())
        self._follow()

    def _show(self, checked: bool) -> None:
        for dock in self.docks:
            dock.setVisible(checked)

    def _follow(self) -> None:
        self.action.setChecked(any(not d.isHidden() for d in self.docks))


def bind_panel_toggle(action: QAction, docks: list[QDockWidget]) -> PanelToggle:
    """``action`` (checkable) shows or hides ``docks`` together and follows them when they change."""
    return PanelToggle(action, docks)


def orientation_for(area: Qt.DockWidgetArea) -> Qt.Orientation:
    """How a panel inside a dock at ``area`` lays out its two halves (side by side in a strip)."""
    if area in (Area.TopDockWidgetArea, Area.BottomDockWidgetArea):
        return Qt.Orientation.Horizontal
    return Qt.Orientation.Vertical
