"""What a tool drawn over the viewer receives (``PanoramaViewer.add_overlay``): the frame it paints on.

The viewer (``ui.viewer.overlays``) and the editing tools both speak this, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from PySide6.QtGui import QPainter

from dit360_desktop.ui.common.camera import CameraView


@dataclass(frozen=True)
class OverlayFrame:
    """What an overlay knows about the frame it paints on."""

    view: CameraView
    width: float  # logical pixels
    height: float
    pixel_scale: float | None  # screen pixels per panorama pixel at the centre, None without a panorama


class ViewerOverlay(Protocol):
    def visible(self) -> bool: ...

    def paint(self, painter: QPainter, frame: OverlayFrame) -> None: ...
