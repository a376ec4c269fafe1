"""Place a photo in 360°: the photo shown on the sphere as a frame you move, scale and roll, then
"Outpaint the rest" (an edit of the placed canvas with everything outside the photo masked).

The projection is ``panorama.placement.place_photo`` (the CLI's ``dit360 place``), so what the viewer shows
is what the engine gets. While the frame moves, a small canvas is computed on a background thread (the
latest placement wins) and shown as the viewer's preview, with the part to be outpainted tinted like an
edit mask. "Outpaint the rest" computes the canvas at the form's size, saves it and its mask, and queues
the edit.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from dit360_desktop.panorama.errors import ImageLoadError, RequestError
from dit360_desktop.panorama.limits import LIMITS
from dit360_desktop.panorama.placement import MAX_FOV, MIN_FOV, Placement, estimate_fov, place_photo
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.ui.common.camera import CameraView, direction_at, wrap_yaw
from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.editing.controller import reveal_in_scroll_area
from dit360_desktop.ui.editing.photo_frame import HANDLE_PX, fov_reaching, paint_frame, screen_corners
from dit360_desktop.ui.widgets.background import BackgroundOp
from dit360_desktop.ui.widgets.form_widgets import section_title

log = logging.getLogger(__name__)

PREVIEW_WIDTH = 1024  # the canvas shown while the frame moves
SHARP_PREVIEW_WIDTH = 2048  # and once it stops
PREVIEW_PHOTO_WIDTH = 1600  # the photo is shrunk once to this for previews
WHEEL_FOV_PER_NOTCH = 0.92
WHEEL_ROLL_PER_NOTCH = 3.0  # degrees, with Shift held
OUTPAINT_FEATHER = 16


class PlacementTool(QObject):
    """A ``PointerTool`` and viewer overlay: the photo's frame with corner handles. Dragging inside moves
    the photo with the pointer, dragging a corner or the wheel scales it (its FOV), Shift+wheel rolls it."""

    placement_changed = Signal(object)  # Placement

    def __init__(
        self,
        placement: Placement,
        degrees_per_pixel: Callable[[], float],
        *,
        aspect: float = 0.75,
        view: Callable[[], CameraView] | None = None,
        viewport: Callable[[], tuple[int, int]] | None = None,
    ) -> None:
        super().__init__()
        self.placement = placement
        self.aspect = aspect  # the photo's height / width
        self._degrees_per_pixel = degrees_per_pixel
        self._view = view
        self._viewport = viewport
        self._last: tuple[float, float] | None = None
        self._scaling = False

    def set_placement(self, placement: Placement) -> None:
        fov = min(MAX_FOV, max(MIN_FOV, placement.fov))
        pitch = min(90.0, max(-90.0, placement.pitch))
        placement = replace(
            placement, yaw=wrap_yaw(placement.yaw), pitch=pitch, roll=wrap_yaw(placement.roll), fov=fov
        )
        if placement != self.placement:
            self.placement = placement
            self.placement_changed.emit(placement)

    def press(self, x: float, y: float) -> bool:
        self._last = (x, y)
        self._scaling = self._corner_at(x, y)
        return True

    def _corner_at(self, x: float, y: float) -> bool:
        if self._view is None or self._viewport is None:
            return False
        width, height = self._viewport()
        corners = screen_corners(self._view(), self.placement, self.aspect, width, height)
        return any(abs(cx - x) <= HANDLE_PX and abs(cy - y) <= HANDLE_PX for _, cx, cy in corners)

    def move(self, x: float, y: float) -> None:
        if self._last is None:
            return
        if self._scaling:
            width, height = self._viewport()
            direction = direction_at(self._view(), x, y, width, height)
            if direction is not None:
                fov = fov_reaching(self.placement, self.aspect, direction)
                self.set_placement(replace(self.placement, fov=fov))
            return
        dx, dy = x - self._last[0], y - self._last[1]
        self._last = (x, y)
        scale = self._degrees_per_pixel()
        p = self.placement
        # The photo follows the pointer (the opposite of turning the view).
        self.set_placement(replace(p, yaw=p.yaw + dx * scale, pitch=p.pitch - dy * scale))

    def release(self) -> None:
        self._last = None
        self._scaling = False

    def visible(self) -> bool:
        return True

    def paint(self, painter: Any, frame: Any) -> None:
        paint_frame(painter, frame, self.placement, self.aspect)

    def hover(self, x: float, y: float) -> None:
        pass

    def wheel(self, angle_delta_y: float) -> bool:
        p = self.placement
        notches = angle_delta_y / 120.0
        # Asked of the window system: the last event's modifiers may be stale (a shortcut's Shift).
        if QGuiApplication.queryKeyboardModifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.set_placement(replace(p, roll=wrap_yaw(p.roll + WHEEL_ROLL_PER_NOTCH * notches)))
        else:
            self.set_placement(replace(p, fov=p.fov * WHEEL_FOV_PER_NOTCH**notches))
        return True


class PlacementPanel(QFrame):
    """Yaw, pitch, roll and FOV of the placed photo, and the two ways out."""

    placement_edited = Signal(object)  # Placement
    outpaint_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setObjectName("PlacementPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(section_title("Place in 360°"))
        self.source_label = QLabel()
        self.source_label.setWordWrap(True)
        layout.addWidget(self.source_label)
        hint = QLabel(
            "Drag the photo to move it, scroll to scale it, Shift+scroll to roll it; right-drag looks around."
        )
        hint.setObjectName("Hint")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        grid = QGridLayout()
        self.spins: dict[str, QDoubleSpinBox] = {}
        # The command line's limits (panorama/limits.py), so that both accept the same placements.
        limits = {
            name: (LIMITS[key].low, LIMITS[key].high)
            for name, key in (("yaw", "yaw"), ("pitch", "pitch"), ("roll", "roll"), ("fov", "photo_fov"))
        }
        labels = {"yaw": "Yaw °", "pitch": "Pitch °", "roll": "Roll °", "fov": "Field of view °"}
        tips = {
            "yaw": "Where the photo's centre looks, left (-) or right (+) of the panorama's centre.",
            "pitch": "How far up (+) or down (-) the photo's centre looks.",
            "roll": "Turns the photo about its centre, counter-clockwise as you look at it.",
            "fov": "The photo's horizontal field of view (from EXIF when known); the wheel changes it too.",
        }
        for row, (name, (low, high)) in enumerate(limits.items()):
            spin = QDoubleSpinBox()
            spin.setObjectName(f"placement_{name}_input")
            spin.setRange(low, high)
            spin.setDecimals(1)
            spin.setKeyboardTracking(False)
            spin.setWrapping(name in ("yaw", "roll"))
            spin.setToolTip(tips[name])
            spin.valueChanged.connect(lambda _value: self.placement_edited.emit(self.placement()))
            grid.addWidget(QLabel(labels[name]), row, 0)
            grid.addWidget(spin, row, 1)
            self.spins[name] = spin
        layout.addLayout(grid)
        self.fov_note = QLabel()
        self.fov_note.setWordWrap(True)
        self.fov_note.setObjectName("Hint")
        layout.addWidget(self.fov_note)
        buttons = QHBoxLayout()
        self.outpaint_button = QPushButton("Outpaint the rest")
        self.outpaint_button.setObjectName("OutpaintButton")
        self.outpaint_button.setToolTip(
            "Generate everything around the photo with the prompt; queued like Generate."
        )
        self.outpaint_button.clicked.connect(self.outpaint_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop placing the photo; nothing is queued.")
        self.cancel_button.clicked.connect(self.cancel_requested)
        buttons.addWidget(self.outpaint_button, 1)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)

    def placement(self) -> Placement:
        return Placement(*(self.spins[n].value() for n in ("yaw", "pitch", "roll", "fov")))

    def show_placement(self, placement: Placement) -> None:
        for name in ("yaw", "pitch", "roll", "fov"):
            spin = self.spins[name]
            spin.blockSignals(True)
            spin.setValue(getattr(placement, name))
            spin.blockSignals(False)


def shrink_photo(photo: np.ndarray, width: int) -> np.ndarray:
    if photo.shape[1] <= width:
        return photo
    from PIL import Image

    height = max(2, round(photo.shape[0] * width / photo.shape[1]))
    return np.asarray(Image.fromarray(photo).resize((width, height), Image.Resampling.LANCZOS))


def canvas_for(
    photo: np.ndarray, placement: Placement, width: int, feather: int
) -> tuple[np.ndarray, np.ndarray]:
    return place_photo(
        photo, yaw=placement.yaw, pitch=placement.pitch, roll=placement.roll, fov=placement.fov,
        width=width, height=width // 2, feather=feather,
    )  # fmt: skip


class PlacementController(QObject):
    """One photo being placed at a time; the viewer shows its canvas until it is outpainted or cancelled."""

    mode_changed = Signal(bool)
    outpaint_queued = Signal(int)
    message = Signal(str, int)
    error = Signal(str, str)

    def __init__(
        self,
        form: GenerationForm,
        panel: PlacementPanel,
        viewer: Callable[[], Any],
        enqueue: Callable[[GenerationRequest], int],
        temp_dir: Path,
        parent: QObject,
    ) -> None:
        super().__init__(parent)
        self.form = form
        self.panel = panel
        self._viewer = viewer
        self._enqueue = enqueue
        self._temp_dir = temp_dir
        self.photo: np.ndarray | None = None
        self.photo_path: Path | None = None
        self._preview_photo: np.ndarray | None = None
        self.tool: PlacementTool | None = None
        self._preview_op: BackgroundOp | None = None
        self._pending: Placement | None = None
        self.previews_shown = 0
        self._canvas: np.ndarray | None = None  # the full-size canvas of the last outpaint request
        panel.setVisible(False)
        panel.placement_edited.connect(lambda p: self.tool and self.tool.set_placement(p))
        panel.outpaint_requested.connect(self.outpaint)
        panel.cancel_requested.connect(self.stop)

    @property
    def active(self) -> bool:
        return self.tool is not None

    def start(self, path: Path | str) -> bool:
        from dit360_desktop.panorama.userimage import load_user_image

        path = Path(path)
        viewer = self._viewer()
        if not hasattr(viewer, "input"):
            self.error.emit("Placing a photo needs the 3D viewer", "This computer's viewer has no OpenGL.")
            return False
        try:
            image = load_user_image(path)
            fov, why = estimate_fov(path)
        except ImageLoadError as e:
            self.error.emit("The photo could not be read", str(e))
            return False
        self.stop()
        self.photo = np.asarray(image, dtype=np.uint8)
        self.photo_path = path
        self._preview_photo = shrink_photo(self.photo, PREVIEW_PHOTO_WIDTH)
        view = viewer.camera.view
        # Where the user is looking, upright: the natural spot for a photo taken from here.
        placement = Placement(yaw=view.yaw, pitch=max(-60.0, min(60.0, view.pitch)), roll=0.0, fov=fov)
        self.tool = PlacementTool(
            placement,
            lambda: viewer.camera.degrees_per_pixel(viewer.input.viewport[0]),
            aspect=image.height / image.width,
            view=lambda: viewer.camera.view,
            viewport=lambda: viewer.input.viewport,
        )
        self.tool.placement_changed.connect(self._placement_changed)
        viewer.set_pointer_tool(self.tool)
        viewer.add_overlay(self.tool)
        self.panel.source_label.setText(f"{path.name} · {image.width}×{image.height}")
        self.panel.fov_note.setText(f"Field of view: {why}.")
        self.panel.show_placement(placement)
        self.panel.setVisible(True)
        reveal_in_scroll_area(self.panel)
        self._placement_changed(placement)
        self.mode_changed.emit(True)
        return True

    def stop(self, *, restore_view: bool = True) -> None:
        """Leave placement; the viewer goes back to the panorama it showed (the previews were drawn over
        it), unless the caller shows something else at once (``restore_view=False``)."""
        if self.tool is None:
            return
        tool, self.tool = self.tool, None
        if self._preview_op is not None:
            self._preview_op.cancel()
            self._preview_op = None
        viewer = self._viewer()
        viewer.set_pointer_tool(None)
        viewer.remove_overlay(tool)
        viewer.set_edit_mask(None)
        if restore_view and viewer.panorama is not None:
            viewer.set_panorama(viewer.panorama)
        self.panel.setVisible(False)
        self.mode_changed.emit(False)

    def _placement_changed(self, placement: Placement) -> None:
        self.panel.show_placement(placement)
        self._viewer().request_frame()  # the frame moves at once; the canvas follows from the thread
        if self._preview_op is not None:
            self._pending = placement  # the running preview's result is followed by this one
            return
        self._start_preview(placement, PREVIEW_WIDTH)

    def _start_preview(self, placement: Placement, width: int) -> None:
        photo = self._preview_photo
        self._preview_op = BackgroundOp(
            self,
            lambda _ctx: (canvas_for(photo, placement, width, 4), placement, width),
            self._show_preview,
        )
        self._preview_op.failure(self._preview_failed).run_in_background()

    def _show_preview(self, result: tuple[tuple[np.ndarray, np.ndarray], Placement, int]) -> None:
        self._preview_op = None
        if self.tool is None:
            return
        (canvas, mask), placement, width = result
        viewer = self._viewer()
        viewer.set_preview(canvas)
        viewer.set_edit_mask(mask)
        self.previews_shown += 1
        pending, self._pending = self._pending, None
        if pending is not None:
            self._start_preview(pending, PREVIEW_WIDTH)
        elif width < SHARP_PREVIEW_WIDTH:
            self._start_preview(placement, SHARP_PREVIEW_WIDTH)  # the frame stopped: show it sharp

    def _preview_failed(self, error: Exception) -> None:
        self._preview_op = None
        log.error("Placement preview failed", exc_info=error)
        self.error.emit("The photo could not be placed", str(error))

    def build_request(self) -> GenerationRequest:
        """Canvas and mask at the form's size, saved; the outpainting request built from the form."""
        if self.tool is None or self.photo is None:
            raise RequestError("init_image", "no photo is being placed")
        base = self.form.request_for_run()
        width = base.width
        canvas, mask = canvas_for(self.photo, self.tool.placement, width, OUTPAINT_FEATHER)
        from PIL import Image

        self._temp_dir.mkdir(parents=True, exist_ok=True)
        stem = f"placed-{secrets.token_hex(4)}"
        canvas_path = self._temp_dir / f"{stem}.png"
        mask_path = self._temp_dir / f"{stem}.mask.png"
        Image.fromarray(canvas).save(canvas_path)
        Image.fromarray(mask, mode="L").save(mask_path)
        # Outside the photo there is nothing to keep: regenerate from noise (strength 1) with the blend
        # method, which keeps the photo's pixels exactly.
        request = base.replace(
            init_image=str(canvas_path), mask_image=str(mask_path), height=width // 2,
            edit_method="blend", strength=1.0,
        )  # fmt: skip
        request.validate()
        self._canvas = canvas
        return request

    def outpaint(self) -> int | None:
        try:
            request = self.build_request()
        except (RequestError, OSError, ValueError) as e:
            self.error.emit("The photo cannot be outpainted", str(e))
            return None
        job_id = self._enqueue(request)
        canvas = self._canvas
        self.stop(restore_view=False)
        self._viewer().set_panorama(canvas)
        self.outpaint_queued.emit(job_id)
        self.message.emit("Outpainting queued", 4000)
        return job_id
