"""ViewerUnavailable: what sits in the viewer's place when OpenGL cannot be used.

It says why, in plain words, and still shows the panorama as a flat picture centred on the camera's
yaw, so generating and saving keep working. Snapshots are rendered on the CPU.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QVBoxLayout, QWidget

from dit360_desktop.ui.common.camera import CameraView, PanoramaCamera, check_snapshot_fov
from dit360_desktop.ui.common.image_input import as_rgb_array, qimage_to_rgb, rgb_to_qimage
from dit360_desktop.ui.common.viewer_errors import ViewerError
from dit360_desktop.ui.viewer.cpu_render import render_view

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

DISPLAY_WIDTH = 1024  # the flat picture is shown from a copy this wide; enough for any window


class ViewerUnavailable(QFrame):
    """Same public API as PanoramaViewer, without OpenGL."""

    gl_failed = Signal(str)
    camera_changed = Signal(object)  # CameraView
    fullscreen_changed = Signal(bool)
    grid_visible_changed = Signal(bool)
    auto_rotate_changed = Signal(bool)

    def __init__(self, message: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = message
        self.camera = PanoramaCamera()
        self.camera.add_listener(self._camera_moved)
        self._panorama: np.ndarray | None = None
        self._display: np.ndarray | None = None
        self._grid = False
        self._auto_rotate = False
        self.setObjectName("ViewerUnavailable")
        self.setMinimumSize(160, 90)
        self.setStyleSheet(
            "#ViewerUnavailable { background: #111215; }"
            "#ViewerUnavailableTitle { color: #e8e8ea; font-size: 15px; font-weight: 600; }"
            "#ViewerUnavailableMessage { color: #a9abb3; }"
        )
        title = QLabel("3D viewer unavailable")
        title.setObjectName("ViewerUnavailableTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message_label = QLabel(message)
        self.message_label.setObjectName("ViewerUnavailableMessage")
        self.message_label.setWordWrap(True)
        self.message_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 24, 24, 24)
        layout.setSpacing(8)
        layout.addWidget(title)
        layout.addWidget(self.message_label)
        layout.addWidget(self.picture, 1)
        log.warning("viewer unavailable: %s", message)

    @property
    def failure(self) -> str:
        return self.message

    @property
    def panorama(self) -> np.ndarray | None:
        return self._panorama

    @property
    def grid_visible(self) -> bool:
        return self._grid

    @property
    def auto_rotate(self) -> bool:
        return self._auto_rotate

    def set_panorama(self, image: QImage | np.ndarray) -> None:
        self._panorama = as_rgb_array(image)
        self._display = _downscale(self._panorama, DISPLAY_WIDTH)
        self._refresh()

    def set_preview(self, array: np.ndarray) -> None:
        import numpy as np

        self._display = np.array(as_rgb_array(array, what="preview", warn_aspect=False), copy=True)
        self._refresh()

    def set_grid_visible(self, visible: bool) -> None:
        if bool(visible) != self._grid:
            self._grid = bool(visible)
            self.grid_visible_changed.emit(self._grid)

    def set_auto_rotate(self, enabled: bool) -> None:
        # Without OpenGL there is no animated view; the flag is kept so the app's toggle stays in sync.
        if bool(enabled) != self._auto_rotate:
            self._auto_rotate = bool(enabled)
            self.auto_rotate_changed.emit(self._auto_rotate)

    def inspect_seam(self) -> None:
        self.camera.inspect_seam()

    def set_mode(self, mode) -> None:
        self.camera.set_mode(mode)

    def snapshot(
        self,
        width: int,
        height: int,
        fov: float | None = None,
        *,
        overlays: bool = False,
        view: CameraView | None = None,
    ) -> QImage:
        view = view or self.camera.view
        check_snapshot_fov(view.mode, fov)
        if self._panorama is None:
            raise ViewerError("There is no panorama to export yet.")
        return rgb_to_qimage(render_view(self._panorama, view, width, height, fov=fov))

    def toggle_fullscreen(self) -> None:
        """Nothing to enlarge without a 3D view; kept so the app can call it on either widget."""

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._refresh()

    def _camera_moved(self, view: CameraView) -> None:
        self.camera_changed.emit(view)
        self._refresh()

    def _refresh(self) -> None:
        import numpy as np

        if self._display is None:
            self.picture.clear()
            return
        width = self._display.shape[1]
        # Centre the camera's yaw, as the flat view would; in seam mode that puts the seam mid-picture.
        shift = -round(self.camera.yaw / 360.0 * width)
        image = rgb_to_qimage(np.roll(self._display, shift, axis=1))
        size = self.picture.size()
        if size.width() > 1 and size.height() > 1:
            pixmap = QPixmap.fromImage(image).scaled(
                size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            self.picture.setPixmap(pixmap)


def _downscale(image: np.ndarray, width: int) -> np.ndarray:
    if image.shape[1] <= width:
        return image
    height = max(1, round(image.shape[0] * width / image.shape[1]))
    scaled = rgb_to_qimage(image).scaled(
        width, height, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
    )
    return qimage_to_rgb(scaled)
