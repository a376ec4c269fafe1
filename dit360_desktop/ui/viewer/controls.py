"""The viewer's toolbar and menu actions: mode, grid, auto-rotate, seam inspection, fullscreen, snapshot.

The viewer widget handles its own keys while it has focus (see ``viewer.input.SHORTCUTS``); these actions
give the same controls to the mouse and the menus, and follow the camera model so both stay in sync.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QImage, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QMainWindow,
    QSpinBox,
    QToolBar,
    QWidget,
)

from dit360_desktop.ui.viewer.camera import MODE_SPECS, CameraView, ViewMode
from dit360_desktop.ui.widgets.icons import icon

log = logging.getLogger(__name__)

_MODE_ICONS = {
    ViewMode.PERSPECTIVE: ("perspective", "1"),
    ViewMode.LITTLE_PLANET: ("planet", "2"),
    ViewMode.FLAT: ("flat", "3"),
    ViewMode.SEAM: ("seam", "4"),
}
_MODE_TIPS = {
    ViewMode.PERSPECTIVE: "Look around as a camera would: drag to turn, wheel to zoom (1).",
    ViewMode.LITTLE_PLANET: "Stereographic 'little planet' view of the whole panorama (2).",
    ViewMode.FLAT: "The flat equirectangular image; drag to pan, it wraps around (3).",
    ViewMode.SEAM: "Look straight at the 0/360° join with the seam line highlighted (4).",
}


class SnapshotDialog(QDialog):
    """Size and field of view for exporting the current perspective view."""

    def __init__(self, fov: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Save a snapshot of the view")
        form = QFormLayout(self)
        self.width_spin = QSpinBox()
        self.width_spin.setRange(64, 8192)
        self.width_spin.setValue(1920)
        self.width_spin.setToolTip("Width of the saved picture in pixels.")
        self.height_spin = QSpinBox()
        self.height_spin.setRange(64, 8192)
        self.height_spin.setValue(1080)
        self.height_spin.setToolTip("Height of the saved picture in pixels.")
        self.fov_spin = QSpinBox()
        spec = MODE_SPECS[ViewMode.PERSPECTIVE]
        self.fov_spin.setRange(round(spec.fov_min), round(spec.fov_max))
        self.fov_spin.setValue(round(fov))
        self.fov_spin.setSuffix("°")
        self.fov_spin.setToolTip("Horizontal field of view of the snapshot.")
        form.addRow("Width", self.width_spin)
        form.addRow("Height", self.height_spin)
        form.addRow("Field of view", self.fov_spin)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


class ViewControls:
    def __init__(self, window: QMainWindow, viewer: Any) -> None:
        self.window = window
        self.viewer = viewer
        self.toolbar = QToolBar("View")
        self.toolbar.setObjectName("ViewToolbar")
        self.toolbar.setMovable(False)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.mode_group = QActionGroup(window)
        self.mode_group.setExclusive(True)
        self.mode_actions: dict[ViewMode, QAction] = {}
        for mode in ViewMode:
            name, key = _MODE_ICONS[mode]
            act = QAction(icon(name), mode.label, window)
            act.setCheckable(True)
            act.setToolTip(_MODE_TIPS[mode])
            act.setStatusTip(_MODE_TIPS[mode])
            act.setShortcut(QKeySequence(key))
            # The viewer handles these keys while focused; the action's key is shown in menus only.
            act.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            act.triggered.connect(lambda _=False, m=mode: self.set_mode(m))
            self.mode_group.addAction(act)
            self.toolbar.addAction(act)
            self.mode_actions[mode] = act
        self.toolbar.addSeparator()
        self.grid_action = self._toggle(
            "grid", "Grid and horizon", "G", "Overlay a latitude/longitude grid and the horizon."
        )
        self.grid_action.toggled.connect(lambda on: self.viewer.set_grid_visible(on))
        self.rotate_action = self._toggle(
            "rotate", "Auto-rotate", "Space", "Turn the view slowly on its own."
        )
        self.rotate_action.toggled.connect(lambda on: self.viewer.set_auto_rotate(on))
        self.reset_action = self._action(
            "reset", "Reset view", "R", "Back to the starting view of this mode."
        )
        self.reset_action.triggered.connect(lambda: self.viewer.camera.reset())
        self.toolbar.addSeparator()
        self.snapshot_action = self._action(
            "snapshot", "Save view snapshot…", "Ctrl+S", "Export the current perspective view as a picture."
        )
        self.snapshot_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.snapshot_action.triggered.connect(self.save_snapshot)
        self.fullscreen_action = self._action(
            "fullscreen", "Fullscreen viewer", "F11", "Show only the viewer (F11, Esc leaves)."
        )
        self.fullscreen_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.fullscreen_action.triggered.connect(lambda: self.viewer.toggle_fullscreen())
        window.addAction(self.snapshot_action)
        window.addAction(self.fullscreen_action)
        self._unsubscribe: Any = None
        self._key_watcher = _ToggleSync(self)
        self.attach(viewer)

    def attach(self, viewer: Any) -> None:
        """Follow ``viewer`` (at start, and when a failed GL viewer is replaced)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.viewer = viewer
        self._unsubscribe = viewer.camera.add_listener(self._camera_changed)
        viewer.installEventFilter(self._key_watcher)
        viewer.set_grid_visible(self.grid_action.isChecked())
        viewer.set_auto_rotate(self.rotate_action.isChecked())
        self._camera_changed(viewer.camera.view)

    def sync_toggles(self) -> None:
        """The viewer's own G and Space keys flip its state; mirror it in the checkable actions."""
        for act, value in (
            (self.grid_action, self.viewer.grid_visible),
            (self.rotate_action, self.viewer.auto_rotate),
        ):
            if act.isChecked() != value:
                act.blockSignals(True)
                act.setChecked(value)
                act.blockSignals(False)

    def _action(self, name: str, text: str, key: str, tip: str) -> QAction:
        act = QAction(icon(name), text, self.window)
        act.setToolTip(f"{tip} ({key})")
        act.setStatusTip(tip)
        act.setShortcut(QKeySequence(key))
        act.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.toolbar.addAction(act)
        return act

    def _toggle(self, name: str, text: str, key: str, tip: str) -> QAction:
        act = self._action(name, text, key, tip)
        act.setCheckable(True)
        return act

    def menu_actions(self) -> list[QAction | None]:
        """For the View menu; None marks a separator."""
        return [
            *self.mode_actions.values(),
            None,
            self.grid_action,
            self.rotate_action,
            self.reset_action,
            None,
            self.fullscreen_action,
        ]

    def set_mode(self, mode: ViewMode) -> None:
        if mode is ViewMode.SEAM:
            self.viewer.inspect_seam()
        else:
            self.viewer.camera.set_mode(mode)

    def _camera_changed(self, view: CameraView) -> None:
        act = self.mode_actions[view.mode]
        if not act.isChecked():
            act.setChecked(True)

    def restore(self, mode: str, grid: bool) -> None:
        try:
            view_mode = ViewMode(mode)
        except ValueError:
            view_mode = ViewMode.PERSPECTIVE
        # Seam inspection is a momentary check, not a mode to start the app in.
        self.set_mode(ViewMode.PERSPECTIVE if view_mode is ViewMode.SEAM else view_mode)
        self.grid_action.setChecked(grid)

    def current(self) -> tuple[str, bool]:
        return self.viewer.camera.mode.value, self.grid_action.isChecked()

    def save_snapshot(self) -> Path | None:
        dialog = SnapshotDialog(self.viewer.camera.fov, self.window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Save the snapshot", str(Path.home() / "snapshot.png"), "PNG (*.png);;JPEG (*.jpg)"
        )
        if not path:
            return None
        return self.write_snapshot(
            Path(path), dialog.width_spin.value(), dialog.height_spin.value(), dialog.fov_spin.value()
        )

    def write_snapshot(self, path: Path, width: int, height: int, fov: float) -> Path:
        image = self.viewer.snapshot(width, height, fov)
        qimage = image if isinstance(image, QImage) else _array_to_qimage(image)
        if not qimage.save(str(path)):
            raise OSError(f"Could not write {path}; check the folder exists and is writable.")
        self.window.statusBar().showMessage(f"Saved {path}", 6000)
        return path


class _ToggleSync(QObject):
    def __init__(self, controls: ViewControls) -> None:
        super().__init__(controls.window)
        self._controls = controls

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyRelease:
            self._controls.sync_toggles()
        return False


def _array_to_qimage(array: Any) -> QImage:
    from dit360_desktop.ui.generation.drop import numpy_to_qimage

    return numpy_to_qimage(array)
