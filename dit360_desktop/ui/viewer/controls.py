"""The viewer's toolbar and menu actions: mode, grid, auto-rotate, seam inspection, fullscreen, snapshot.

The viewer widget handles its own keys while it has focus (see ``viewer.input.SHORTCUTS``); these actions
give the same controls to the mouse and the menus, and follow the camera model so both stay in sync.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QStandardPaths, Qt
from PySide6.QtGui import QAction, QActionGroup, QImage, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.ui.common.camera import CameraView, ViewMode
from dit360_desktop.ui.common.image_input import qimage_to_rgb
from dit360_desktop.ui.widgets.dialogs import remembered_folder
from dit360_desktop.ui.widgets.icons import icon
from dit360_desktop.ui.widgets.view_export import ViewExportForm, format_for_suffix, save_view_picture

SNAPSHOT_FOLDER = "snapshot"

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
    """Save a picture of the view: starts from what the viewer shows, with presets and a live preview."""

    def __init__(self, viewer: Any, folder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SnapshotDialog")
        self.setWindowTitle("Save a snapshot of the view")
        layout = QVBoxLayout(self)
        self.form = ViewExportForm(
            viewer.camera.view, lambda view, w, h: viewer.snapshot(w, h, view=view), self
        )
        layout.addWidget(self.form)
        row = QHBoxLayout()
        row.addWidget(QLabel("Save to"))
        self.path = QLineEdit()
        self.path.setToolTip("The file to write; its type follows the File type above.")
        row.addWidget(self.path, 1)
        browse = QPushButton("Browse…")
        browse.setToolTip("Choose the folder and file name.")
        browse.clicked.connect(self._browse)
        row.addWidget(browse)
        layout.addLayout(row)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        view = viewer.camera.view
        self.path.setText(str(Path(folder) / f"view-yaw{round(view.yaw):+d}-pitch{round(view.pitch):+d}.png"))
        self.form.changed.connect(self._match_suffix)
        self._match_suffix()
        self.form.update_preview()

    def output_path(self) -> Path:
        return Path(self.path.text()).expanduser()

    def accept(self) -> None:
        # A typed name decides the type when it has a picture suffix; otherwise the type adds one.
        fmt = format_for_suffix(self.output_path().suffix)
        if fmt is not None:
            self.form.set_format(fmt)
        else:
            self.path.setText(f"{self.output_path()}{self.form.suffix()}")
        super().accept()

    def _match_suffix(self) -> None:
        path = self.output_path()
        if path.suffix.lower() != self.form.suffix():
            self.path.setText(str(path.with_suffix(self.form.suffix())))

    def _browse(self) -> None:
        chosen, _ = QFileDialog.getSaveFileName(self, "Save the snapshot", self.path.text())
        if chosen:
            self.path.setText(chosen)
            if (fmt := format_for_suffix(Path(chosen).suffix)) is not None:
                self.form.set_format(fmt)


class ViewControls:
    def __init__(
        self,
        window: QMainWindow,
        viewer: Any,
        folders: Callable[[], MutableMapping[str, str]] | None = None,
    ) -> None:
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
        self.actual_pixels_action = self._action(
            "actual-size", "Actual pixels (1:1)", "Ctrl+1",
            "One screen pixel shows one pixel of the panorama; the flat view then copies them exactly.",
        )  # fmt: skip
        self.actual_pixels_action.triggered.connect(self._actual_pixels)
        self.fit_action = self._action(
            "fit",
            "Fit the whole panorama",
            "Ctrl+0",
            "The flat picture, all of it, as large as the view allows.",
        )
        self.fit_action.triggered.connect(self._fit)
        for act in (self.actual_pixels_action, self.fit_action):
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            window.addAction(act)
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
        # The app's remembered folders per kind of file (its settings, which Settings may replace), or
        # this session's own.
        own: dict[str, str] = {}
        self._folders = folders or (lambda: own)
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
            self.actual_pixels_action,
            self.fit_action,
            None,
            self.fullscreen_action,
        ]

    def _actual_pixels(self) -> None:
        if hasattr(self.viewer, "show_actual_pixels"):
            self.viewer.show_actual_pixels()

    def _fit(self) -> None:
        if hasattr(self.viewer, "fit_panorama"):
            self.viewer.fit_panorama()
        else:
            self.viewer.camera.fit()

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

    def folders(self) -> MutableMapping[str, str]:
        """Where each kind of file was saved last."""
        return self._folders()

    def save_snapshot(self) -> Path | None:
        folder = remembered_folder(self.folders(), SNAPSHOT_FOLDER, default_pictures_folder())
        dialog = SnapshotDialog(self.viewer, folder, self.window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        form = dialog.form
        path = self.write_snapshot(
            dialog.output_path(),
            form.view(),
            form.picture_size(),
            form.selected_format(),
            form.quality.value(),
        )
        self.folders()[SNAPSHOT_FOLDER] = str(path.parent)
        return path

    def write_snapshot(
        self, path: Path, view: CameraView, size: tuple[int, int], file_format: str = "png", quality: int = 92
    ) -> Path:
        image = self.viewer.snapshot(*size, view=view)
        pixels = qimage_to_rgb(image) if isinstance(image, QImage) else image
        save_view_picture(pixels, path, file_format, quality)
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


def default_pictures_folder() -> Path:
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    return Path(pictures) if pictures else Path.home()
