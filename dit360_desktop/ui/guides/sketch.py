"""A sketch on the sphere as a structure-control source.

The sketch is drawn with the edit mode's brush (angular radius in degrees, strokes along great circles,
wrapping over the 0/360° seam and the poles) in a few shades: one ``MaskModel`` per shade, composed into
grey levels (``guide_files.compose_sketch``: a brighter shade wins where two overlap). The composite is
what the viewer tints over the panorama while drawing, and what "Use as control image" writes: an equirect
PNG of the panorama's size (white lines on black, as the Canny Control LoRA reads edges) in the app's data
folder, which then becomes the form's ``control_image``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.guides.guide_files import compose_sketch, write_control_png
from dit360_desktop.ui.guides.palette import SKETCH_SHADES
from dit360_desktop.ui.guides.sphere_paint import SpherePaint
from dit360_desktop.ui.guides.widgets import SketchBox
from dit360_desktop.ui.painting.mask_model import MaskModel

log = logging.getLogger(__name__)


class SketchLayer:
    """The sketch at one panorama size: a model per shade and the composite shown on the sphere."""

    def __init__(self, width: int, height: int) -> None:
        self.models = {level: MaskModel(width, height) for level in SKETCH_SHADES.values()}
        self.shown = np.zeros((height, width), dtype=np.uint8)

    @property
    def size(self) -> tuple[int, int]:
        return self.shown.shape[1], self.shown.shape[0]

    def compose(self, top: int = 0, bottom: int | None = None) -> None:
        rows = slice(top, self.shown.shape[0] if bottom is None else bottom)
        self.shown[rows] = compose_sketch({level: m.array for level, m in self.models.items()}, rows)

    @property
    def is_empty(self) -> bool:
        return not self.shown.any()

    def pixels(self) -> np.ndarray:
        return np.repeat(self.shown[..., None], 3, axis=2)


class SketchController(QObject):
    message = Signal(str)  # a sentence for the panel

    def __init__(
        self,
        box: SketchBox,
        paint: SpherePaint,
        form: GenerationForm,
        size_fallback: Callable[[], tuple[int, int]],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.box = box
        self.paint = paint
        self.form = form
        self._size_fallback = size_fallback
        self.layer: SketchLayer | None = None
        self.sketching = False
        box.shade.currentIndexChanged.connect(lambda _i: self._paint_shade())
        box.erase.toggled.connect(lambda _on: self.paint.set_brush(box.brush()))
        box.size.valueChanged.connect(lambda _v: self.paint.set_brush(box.brush()))
        box.undo_button.clicked.connect(self.undo)
        box.clear_button.clicked.connect(self.clear)
        box.use_button.clicked.connect(self.use_as_control)
        box.done_button.clicked.connect(self.stop)
        paint.active_changed.connect(self._paint_active)

    def start(self) -> bool:
        panorama = self.paint.panorama()
        width, height = (
            (panorama.shape[1], panorama.shape[0]) if panorama is not None else self._size_fallback()
        )
        if self.layer is None or self.layer.size != (width, height):
            self.layer = SketchLayer(width, height)
        self.paint.backdrop(None)
        self.sketching = True
        if not self._paint_shade():
            self.sketching = False
            return False
        self.box.setVisible(True)
        return True

    def _paint_shade(self) -> bool:
        if not self.sketching or self.layer is None:
            return False
        self.paint.set_brush(self.box.brush())
        problem = self.paint.start(self.layer.models[self.box.level()], self.layer.shown, self.layer.compose)
        if problem is not None:
            self.message.emit(problem)
            return False
        return True

    def stop(self) -> None:
        if self.sketching:
            self.sketching = False
            self.paint.stop()
        self.box.setVisible(False)

    def _paint_active(self, on: bool) -> None:
        # Another guide (a region) took the brush: the sketch's tools go.
        if not on or self.paint.tool is None or self.layer is None:
            return
        if self.paint.tool.model not in self.layer.models.values():
            self.sketching = False
            self.box.setVisible(False)

    def panorama_changed(self) -> None:
        """A new panorama is on screen: a sketch drawn over the old one would mislead."""
        self.stop()
        self.layer = None

    def undo(self) -> None:
        if self.layer is None:
            return
        self.paint.flush()
        model = self.layer.models[self.box.level()]
        if model.undo():
            self.layer.compose()
            self.paint.refresh(0, self.layer.size[1])

    def clear(self) -> None:
        if self.layer is None:
            return
        self.paint.flush()
        for model in self.layer.models.values():
            model.clear()
        self.layer.compose()
        self.paint.refresh(0, self.layer.size[1])

    def use_as_control(self) -> bool:
        if self.layer is None:
            self.message.emit("Nothing is sketched yet: press Sketch on the sphere and draw on the panorama.")
            return False
        self.paint.flush()
        self.layer.compose()
        if self.layer.is_empty:
            self.message.emit("Nothing is sketched yet: draw on the panorama first.")
            return False
        try:
            path = write_control_png(self.layer.pixels(), "sketch")
        except OSError as e:
            self.message.emit(f"The sketch could not be saved: {e}")
            return False
        self.form.set("control_image", str(path))
        width, height = self.layer.size
        self.message.emit(f"The sketch ({width}×{height}) is the control image now: {path.name}.")
        return True
