"""Edit mode: a panorama, its mask, the brush on the viewer and the edit panel, and "Run edit".

``EditController.start(path)`` opens a 2:1 panorama for editing: the viewer shows it with the mask tinted
over it, drags paint instead of turning the view, and the edit panel appears. "Run edit" saves the mask
as a PNG (white = regenerate), builds the request from the generation form with the panorama as
``init_image`` and the mask as ``mask_image``, and queues it like Generate. When the edit's result comes
back it becomes the panorama being edited, so edits can follow one another.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QFileDialog, QScrollArea, QWidget

from dit360_desktop.panorama.errors import ImageLoadError, RequestError
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.editing.panel import EditPanel
from dit360_desktop.ui.painting.mask_model import MaskImportError, MaskModel
from dit360_desktop.ui.painting.paint_tool import MaskPaintTool
from dit360_desktop.ui.widgets.background import BackgroundOp

log = logging.getLogger(__name__)

# Coverage is estimated from at most this many mask samples, so it stays cheap for an 8K mask.
_COVERAGE_SAMPLES = 512 * 256
_ASPECT_TOLERANCE = 0.02
_BRUSH_STEP = 1.25  # [ and ] scale the brush by this


class EditError(Exception):
    """Why edit mode could not start or an edit could not be queued; the message is for the user."""


def reveal_in_scroll_area(widget: QWidget) -> None:
    """Scroll the side panel (after its next layout pass) so that ``widget`` starts at its top: a panel
    taller than the view shows its title and first controls, not its last ones."""

    def scroll() -> None:
        parent = widget.parentWidget()
        while parent is not None and not isinstance(parent, QScrollArea):
            parent = parent.parentWidget()
        if parent is not None and widget.isVisible():
            top = widget.mapTo(parent.widget(), widget.rect().topLeft()).y()
            parent.verticalScrollBar().setValue(top)

    QTimer.singleShot(0, widget, scroll)


def _pixel_count(path: Path) -> int:
    """Width × height from the file's header (Pillow reads no pixels for it); 0 if it cannot tell."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return 0
    return width * height


def load_panorama(path: Path) -> np.ndarray:
    """The panorama at ``path`` as (H, W, 3) uint8, through the app's safe loader; 2:1 or EditError."""
    from dit360_desktop.panorama.userimage import load_user_image

    try:
        image = load_user_image(path)
    except ImageLoadError as e:
        raise EditError(str(e)) from e
    width, height = image.size
    if abs(width / height - 2.0) > 2.0 * _ASPECT_TOLERANCE:
        raise EditError(
            f"{path.name} is {width}×{height}, not a 2:1 panorama. Edits work on equirectangular "
            "panoramas; to extend a photo to 360°, drop it on the window and choose Place in 360°."
        )
    return np.asarray(image, dtype=np.uint8)


# Above this many pixels a picture is decoded off the UI thread (a 4096×2048 decode takes about 50 ms).
DECODE_ON_UI_THREAD_MAX = 4096 * 2048


class EditController(QObject):
    mode_changed = Signal(bool)
    edit_queued = Signal(int)  # job id
    message = Signal(str, int)  # status-bar text, milliseconds
    error = Signal(str, str)  # title, text

    def __init__(
        self,
        form: GenerationForm,
        panel: EditPanel,
        viewer: Callable[[], Any],
        enqueue: Callable[[GenerationRequest], int],
        temp_dir: Path,
        window: QWidget,
    ) -> None:
        super().__init__(window)
        self.form = form
        self.panel = panel
        self._viewer = viewer
        self._enqueue = enqueue
        self._temp_dir = temp_dir
        self._window = window
        self.source: Path | None = None
        self.model: MaskModel | None = None
        self.tool: MaskPaintTool | None = None
        self._queued: set[int] = set()
        self.opening: BackgroundOp | None = None
        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(80)
        self._refresh.timeout.connect(self._show_state)
        panel.setVisible(False)
        panel.brush_changed.connect(self._brush_changed)
        panel.undo_requested.connect(self.undo)
        panel.redo_requested.connect(self.redo)
        panel.invert_requested.connect(lambda: self._whole_mask("invert"))
        panel.clear_requested.connect(lambda: self._whole_mask("clear"))
        panel.import_requested.connect(self.choose_mask_to_import)
        panel.export_requested.connect(self.choose_mask_export)
        panel.run_requested.connect(self.run_edit)
        panel.leave_requested.connect(self.stop)
        self._shortcuts = [
            self._shortcut(QKeySequence.StandardKey.Undo, self.undo),
            self._shortcut(QKeySequence("Ctrl+Shift+Z"), self.redo),
            self._shortcut(QKeySequence("]"), lambda: self._scale_brush(_BRUSH_STEP)),
            self._shortcut(QKeySequence("["), lambda: self._scale_brush(1.0 / _BRUSH_STEP)),
            self._shortcut(QKeySequence("B"), lambda: panel.set_erase(False)),
            self._shortcut(QKeySequence("E"), lambda: panel.set_erase(True)),
        ]

    @property
    def active(self) -> bool:
        return self.tool is not None

    def _shortcut(self, keys: QKeySequence | QKeySequence.StandardKey, slot: Callable[[], Any]) -> QShortcut:
        shortcut = QShortcut(keys, self._window)
        shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        shortcut.setEnabled(False)
        shortcut.activated.connect(slot)
        return shortcut

    # Entering and leaving ------------------------------------------------------------------------------

    def start(self, path: Path | str, *, mask_path: Path | str | None = None) -> bool:
        """Edit the panorama at ``path`` (optionally with a stored mask); False, with an error, if not.

        A large picture (an 8192×4096 decode takes about a second) is decoded on the thread pool and edit
        mode opens when it is in; ``opening`` is set meanwhile and the result is True unless that fails.
        """
        path = Path(path)
        if _pixel_count(path) > DECODE_ON_UI_THREAD_MAX:
            self.message.emit(f"Opening {path.name} for editing…", 0)
            self.opening = BackgroundOp(
                self,
                lambda _ctx: load_panorama(path),
                lambda pixels: self._opened(path, pixels, mask_path),
            )
            self.opening.failure(self._open_failed).run_in_background()
            return True
        try:
            pixels = load_panorama(path)
        except EditError as e:
            self.error.emit("This picture cannot be edited", str(e))
            return False
        return self._enter(path, pixels, mask_path)

    def _opened(self, path: Path, pixels: np.ndarray, mask_path: Path | str | None) -> None:
        self.opening = None
        self.message.emit("", 0)
        self._enter(path, pixels, mask_path)

    def _open_failed(self, error: Exception) -> None:
        self.opening = None
        self.message.emit("", 0)
        self.error.emit("This picture cannot be edited", str(error))

    def _enter(self, path: Path, pixels: np.ndarray, mask_path: Path | str | None) -> bool:
        viewer = self._viewer()
        if not hasattr(viewer, "input"):
            self.error.emit(
                "Edit mode needs the 3D viewer",
                "Painting a mask needs OpenGL, which this computer's viewer does not have. The command "
                "line can still run edits: dit360 edit --image PANO --mask MASK.png --prompt TEXT.",
            )
            return False
        self._leave_viewer()
        height, width = pixels.shape[:2]
        self.source = path
        self.model = MaskModel(width, height)
        self.tool = MaskPaintTool(self.model, lambda: viewer.camera.view, lambda: viewer.input.viewport, self)
        self.tool.brush = self.panel.brush()
        self.tool.rows_changed.connect(self._rows_changed)
        self.tool.outline_changed.connect(viewer.request_frame)
        viewer.set_panorama(pixels)
        viewer.set_edit_mask(self.model.array)
        viewer.set_pointer_tool(self.tool)
        viewer.add_overlay(self.tool)
        for shortcut in self._shortcuts:
            shortcut.setEnabled(True)
        self.panel.set_source(f"{path.name} · {width}×{height}")
        self.panel.setVisible(True)
        reveal_in_scroll_area(self.panel)
        if mask_path is not None:
            self.import_mask(Path(mask_path))
        self._show_state()
        self.mode_changed.emit(True)
        return True

    def stop(self) -> None:
        if not self.active:
            return
        self._leave_viewer()
        for shortcut in self._shortcuts:
            shortcut.setEnabled(False)
        self.panel.setVisible(False)
        self.mode_changed.emit(False)

    def _leave_viewer(self) -> None:
        tool, self.tool = self.tool, None
        if tool is None:
            return
        viewer = self._viewer()
        if hasattr(viewer, "set_pointer_tool"):
            viewer.set_pointer_tool(None)
            viewer.remove_overlay(tool)
            viewer.set_edit_mask(None)
        tool.close()

    def shutdown(self) -> None:
        self._leave_viewer()

    # Mask commands -----------------------------------------------------------------------------------

    def _brush_changed(self, brush: Any) -> None:
        if self.tool is not None:
            self.tool.brush = brush
            self._viewer().request_frame()

    def _scale_brush(self, factor: float) -> None:
        self.panel.set_brush_size(self.panel.brush().radius_deg * factor)

    def undo(self) -> None:
        if self.tool is not None:
            self.tool.flush()
            self.model.undo()
            self._show_state()

    def redo(self) -> None:
        if self.tool is not None:
            self.tool.flush()
            self.model.redo()
            self._show_state()

    def _whole_mask(self, operation: str) -> None:
        if self.tool is None:
            return
        self.tool.flush()
        getattr(self.model, operation)()
        self._show_state()

    def import_mask(self, path: Path) -> bool:
        if self.tool is None:
            return False
        self.tool.flush()
        try:
            self.model.import_png(path)
        except MaskImportError as e:
            self.error.emit("The mask could not be used", str(e))
            return False
        self._show_state()
        return True

    def export_mask(self, path: Path) -> bool:
        if self.tool is None:
            return False
        self.tool.flush()
        try:
            self.model.export_png(path)
        except OSError as e:
            self.error.emit("The mask could not be saved", f"{path}: {e}")
            return False
        self.message.emit(f"Mask saved to {path}", 5000)
        return True

    def choose_mask_to_import(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self._window, "Import mask", "", "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff)"
        )
        if name:
            self.import_mask(Path(name))

    def choose_mask_export(self) -> None:
        suggested = f"{self.source.stem}.mask.png" if self.source else "mask.png"
        name, _ = QFileDialog.getSaveFileName(self._window, "Export mask", suggested, "PNG (*.png)")
        if name:
            self.export_mask(Path(name))

    def _rows_changed(self, top: int, bottom: int) -> None:
        viewer = self._viewer()
        if hasattr(viewer, "edit_mask_rows_changed"):
            viewer.edit_mask_rows_changed(top, bottom)
        self._refresh.start()

    def _show_state(self) -> None:
        if self.model is None:
            return
        self.panel.set_history(self.model.can_undo, self.model.can_redo)
        self.panel.set_coverage(_estimated_coverage(self.model.array))

    # Running -------------------------------------------------------------------------------------------

    def build_request(self) -> GenerationRequest:
        """The edit request: the form's values, this panorama, the mask saved as a PNG. RequestError or
        EditError say what is wrong."""
        if self.tool is None or self.source is None:
            raise EditError("No panorama is open for editing.")
        self.tool.flush()
        if self.model.is_empty:
            raise EditError("Nothing is painted: paint over the part of the panorama to regenerate.")
        self._temp_dir.mkdir(parents=True, exist_ok=True)
        mask_path = self._temp_dir / f"mask-{secrets.token_hex(4)}.png"
        self.model.export_png(mask_path)
        base = self.form.request_for_run()
        # An edit works on a 2:1 canvas: the form's width sets the size.
        request = base.replace(init_image=str(self.source), mask_image=str(mask_path), height=base.width // 2)
        request.validate()
        return request

    def run_edit(self) -> int | None:
        try:
            request = self.build_request()
        except (EditError, RequestError, OSError) as e:
            self.error.emit("The edit cannot run", str(e))
            return None
        job_id = self._enqueue(request)
        self._queued.add(job_id)
        self.edit_queued.emit(job_id)
        self.message.emit("Edit queued", 4000)
        return job_id

    def on_result(self, finished: Any) -> None:
        """An edit of the panorama being edited came back: edit its result from now on, mask kept."""
        if finished.job_id not in self._queued:
            if self.active:
                # Another panorama is now on screen; a mask painted for the old one would mislead.
                self.stop()
                self.message.emit("Edit mode closed: a new panorama arrived.", 6000)
            return
        self._queued.discard(finished.job_id)
        if not self.active or not finished.saved_path:
            return
        keep = self.model.array.copy()
        if self.start(finished.saved_path) and keep.shape == self.model.array.shape:
            self.model.replace(keep)
            self._show_state()


def _estimated_coverage(mask: np.ndarray) -> float:
    height, width = mask.shape
    step = max(1, int(np.sqrt(height * width / _COVERAGE_SAMPLES)))
    sample = mask[step // 2 :: step, step // 2 :: step].astype(np.float32)
    rows = (np.arange(sample.shape[0]) * step + step // 2 + 0.5) / height
    weights = np.cos((0.5 - rows) * np.pi).astype(np.float32)
    return float((sample.mean(axis=1) / 255.0 * weights).sum() / weights.sum())
