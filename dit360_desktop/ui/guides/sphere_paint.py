"""Painting a guide on the sphere: the edit mode's brush (``ui/editing``: ``MaskModel``, ``MaskPaintTool``
and its stroke thread) put on the viewer for a sketch layer or a region's mask.

One ``SpherePaint`` serves the Guides panel: ``start(model, shown)`` hands primary drags on the viewer to a
brush on ``model`` and tints ``shown`` (the array the viewer displays: the model itself, or a composite of
several models that ``on_rows`` keeps current) over the panorama; right and Alt drags still look around.
``backdrop`` swaps the viewer's panorama for a tinted copy (the other regions in their colours) and
``stop`` puts the panorama back. Only one tool owns the viewer: painting starts only while no other tool
(edit mode, photo placement) is on it, and never takes the viewer back from one that came later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from dit360_desktop.ui.painting.brush import Brush
from dit360_desktop.ui.painting.mask_model import MaskModel
from dit360_desktop.ui.painting.paint_tool import MaskPaintTool


class SpherePaint(QObject):
    changed = Signal()  # a stroke, undo or clear changed what is painted (UI thread)
    active_changed = Signal(bool)

    def __init__(self, viewer: Callable[[], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._viewer = viewer
        self.tool: MaskPaintTool | None = None
        self.brush = Brush(radius_deg=4.0, hardness=0.8)
        self._on_rows: Callable[[int, int], None] | None = None
        self._panorama: np.ndarray | None = None  # what the viewer showed before a backdrop
        self._backdrop: np.ndarray | None = None  # the tinted copy this painter put on the viewer

    @property
    def active(self) -> bool:
        return self.tool is not None

    def panorama(self) -> np.ndarray | None:
        """The panorama on screen (not a backdrop this painter put there)."""
        shown = getattr(self._viewer(), "panorama", None)
        if self._panorama is not None and shown is self._backdrop:
            return self._panorama
        return shown

    def problem(self) -> str | None:
        """Why painting cannot start now, in a sentence, or None."""
        viewer = self._viewer()
        if not hasattr(viewer, "input"):
            return "Painting on the sphere needs the 3D viewer, which needs OpenGL on this computer."
        if viewer.input.tool is not None and (self.tool is None or viewer.input.tool is not self.tool):
            return "Leave edit mode or the photo placement first: one tool paints on the sphere at a time."
        return None

    def start(
        self, model: MaskModel, shown: np.ndarray, on_rows: Callable[[int, int], None] | None = None
    ) -> str | None:
        """Paint ``model``, showing ``shown``; returns the reason when painting cannot start."""
        problem = self.problem()
        if problem is not None:
            return problem
        viewer = self._viewer()
        self._release_tool(viewer)
        self._on_rows = on_rows
        tool = MaskPaintTool(model, lambda: viewer.camera.view, lambda: viewer.input.viewport, self)
        tool.brush = self.brush
        tool.rows_changed.connect(self._rows_changed)
        tool.stroke_finished.connect(self.changed)
        tool.outline_changed.connect(viewer.request_frame)
        self.tool = tool
        viewer.set_edit_mask(shown)
        viewer.set_pointer_tool(tool)
        viewer.add_overlay(tool)
        self.active_changed.emit(True)
        return None

    def set_brush(self, brush: Brush) -> None:
        self.brush = brush
        if self.tool is not None:
            self.tool.brush = brush
            self._viewer().request_frame()

    def flush(self) -> None:
        if self.tool is not None:
            self.tool.flush()

    def refresh(self, top: int, bottom: int) -> None:
        """Rows top..bottom of what is shown changed outside a stroke (undo, clear, import)."""
        self._rows_changed(top, bottom)
        self.changed.emit()

    def backdrop(self, pixels: np.ndarray | None) -> None:
        """Show ``pixels`` in place of the panorama while painting (None: the panorama again)."""
        viewer = self._viewer()
        if pixels is None:
            panorama, backdrop = self._panorama, self._backdrop
            self._panorama = self._backdrop = None
            # Put the panorama back only over our own copy: something else shown since (edit mode, a
            # result) stays.
            if panorama is not None and getattr(viewer, "panorama", None) is backdrop:
                viewer.set_panorama(panorama)
            return
        if self._panorama is None or getattr(viewer, "panorama", None) is not self._backdrop:
            self._panorama = getattr(viewer, "panorama", None)
        self._backdrop = pixels
        viewer.set_panorama(pixels)

    def stop(self) -> None:
        viewer = self._viewer()
        was_active = self.tool is not None
        self._release_tool(viewer)
        self.backdrop(None)
        if was_active:
            self.active_changed.emit(False)

    def forget_backdrop(self) -> None:
        """A new panorama replaced what was on screen: never put the old one back."""
        self._panorama = self._backdrop = None

    def _release_tool(self, viewer: Any) -> None:
        tool, self.tool = self.tool, None
        if tool is None:
            return
        tool.flush()
        # Another tool may have taken the viewer since (edit mode opened from the history): leave it be.
        if hasattr(viewer, "input") and viewer.input.tool is tool:
            viewer.set_pointer_tool(None)
            viewer.set_edit_mask(None)
        try:
            viewer.remove_overlay(tool)
        except (AttributeError, ValueError):
            pass  # the viewer was replaced (the OpenGL fallback) and never had it

        tool.close()

    def _rows_changed(self, top: int, bottom: int) -> None:
        if self._on_rows is not None:
            self._on_rows(top, bottom)
        viewer = self._viewer()
        if hasattr(viewer, "edit_mask_rows_changed"):
            viewer.edit_mask_rows_changed(top, bottom)
