"""What the editing tools need from the GL viewer: a mask overlay and a pointer tool.

A mix-in of ``PanoramaViewer``, kept here so the widget module stays about drawing and input. The mask is
an equirect uint8 array (white = regenerate) that the renderer tints in red; the tool takes primary drags
(``ViewerInput.set_tool``) while right, middle and Alt drags still turn the view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt

from dit360_desktop.ui.viewer.input import PointerTool

if TYPE_CHECKING:
    import numpy as np


class EditingHooks:
    _edit_mask: np.ndarray | None = None

    def set_edit_mask(self, mask: np.ndarray | None) -> None:
        """Tint ``mask`` (H, W uint8, kept by reference) over the panorama, or stop (None)."""
        self._edit_mask = mask
        renderer: Any = self._renderer
        if renderer is not None:
            renderer.mask.set(mask)
        self.request_frame()

    @property
    def edit_mask(self) -> np.ndarray | None:
        return self._edit_mask

    def edit_mask_rows_changed(self, top: int, bottom: int) -> None:
        """Rows top..bottom of the mask changed: upload them with the next frame."""
        if self._renderer is not None:
            self._renderer.mask.mark_rows(top, bottom)
        self.request_frame()

    def set_pointer_tool(self, tool: PointerTool | None) -> None:
        self.input.set_tool(tool)
        self._set_cursor(Qt.CursorShape.CrossCursor if tool is not None else Qt.CursorShape.OpenHandCursor)

    def _look_press(self, event: Any) -> bool | None:
        """None: not a press the viewer handles; else whether it turns the view rather than use the tool."""
        button = event.button()
        if button == Qt.MouseButton.LeftButton:
            return bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)
        if self.input.tool is not None and button in (
            Qt.MouseButton.RightButton,
            Qt.MouseButton.MiddleButton,
        ):
            return True
        return None

    def _idle_cursor(self) -> Qt.CursorShape:
        return Qt.CursorShape.CrossCursor if self.input.tool is not None else Qt.CursorShape.OpenHandCursor
