"""Seam and pole quality over the seam-inspection view: the seam score, the per-row heat strip and a
warning in words (``panorama/qa.py`` computes them; docs/finishing.md explains them).

The scores are computed by a ``BackgroundOp`` (the app's one helper for one-shot work off the UI thread)
from the numpy panorama the viewer already holds, once per panorama, and only when the seam view is first
shown; the report comes back on the UI thread. ``attach_quality_overlay(viewer)`` is the only hook the
viewer needs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter

from dit360_desktop.ui.common.camera import ViewMode
from dit360_desktop.ui.widgets.background import BackgroundOp, OpContext

if TYPE_CHECKING:
    import numpy as np

    from dit360_desktop.panorama import qa
    from dit360_desktop.ui.common.overlay import OverlayFrame

log = logging.getLogger(__name__)

_PANEL = QColor(14, 16, 20, 190)
_TEXT = QColor(0xE8, 0xEC, 0xF2)
_GOOD = QColor(120, 220, 140)
_WARN = QColor(255, 190, 80)
_PANEL_WIDTH = 300.0
_STRIP_WIDTH = 14.0


class SeamQualityOverlay(QObject):
    """A ViewerOverlay: visible in seam-inspection mode while the viewer holds a panorama."""

    def __init__(self, viewer) -> None:
        super().__init__(viewer)
        self._viewer = viewer
        self._scored_for: np.ndarray | None = None
        self._report: qa.QualityReport | None = None
        self._error: str | None = None
        self._running_for: np.ndarray | None = None
        self._op: BackgroundOp | None = None

    @property
    def report(self) -> qa.QualityReport | None:
        return self._report if self._scored_for is self._viewer.panorama else None

    def visible(self) -> bool:
        panorama = self._viewer.panorama
        if panorama is None or self._viewer.camera.view.mode is not ViewMode.SEAM:
            return False
        if panorama is not self._scored_for and panorama is not self._running_for:
            self._start(panorama)
        return True

    def _start(self, panorama: np.ndarray) -> None:
        self._running_for = panorama
        self._op = BackgroundOp(
            self, lambda ctx: _score(ctx, panorama), lambda outcome: self._on_scored(panorama, outcome)
        ).run_in_background()

    def _on_scored(self, panorama: np.ndarray, outcome: object) -> None:
        if panorama is self._running_for:
            self._running_for = None
        if panorama is not self._viewer.panorama:
            return  # a newer panorama arrived meanwhile; it gets its own run
        from dit360_desktop.panorama import qa  # loaded by _score already: a dictionary lookup

        self._scored_for = panorama
        self._report = outcome if isinstance(outcome, qa.QualityReport) else None
        self._error = outcome if isinstance(outcome, str) else None
        self._viewer.request_frame()

    def wait(self, timeout: float | None = None) -> None:
        if self._op is not None:
            self._op.wait(timeout)

    def paint(self, painter: QPainter, frame: OverlayFrame) -> None:
        _restore_unpack_alignment(painter)
        font = QFont(painter.font())
        font.setPointSizeF(9.0)
        painter.setFont(font)
        metrics = QFontMetricsF(font)
        report = self.report
        if report is None:
            error = self._error if self._scored_for is self._viewer.panorama else None
            self._paint_panel(painter, frame, [(error or "Scoring the seam…", _TEXT)], None, metrics)
            return
        lines = [
            (f"Seam score {report.seam:.2f}  (about 1 is seamless)", _WARN if report.seam_poor else _GOOD),
            (
                f"Pole smear  top {report.pole_north:.2f}   bottom {report.pole_south:.2f}",
                _WARN if report.poles_poor else _GOOD,
            ),
        ]
        lines += [(verdict, _WARN) for verdict in report.verdicts] or [
            ("No visible seam and no smeared pole.", _GOOD)
        ]
        self._paint_panel(painter, frame, lines, report.row_steps, metrics)

    def _paint_panel(self, painter, frame, lines, row_steps, metrics: QFontMetricsF) -> None:
        text_width = _PANEL_WIDTH - (_STRIP_WIDTH + 26 if row_steps is not None else 16)
        wrapped: list[tuple[QRectF, str, QColor]] = []
        y = 10.0
        for text, colour in lines:
            rect = metrics.boundingRect(QRectF(0, 0, text_width, 1000), int(Qt.TextFlag.TextWordWrap), text)
            wrapped.append((QRectF(0, y, text_width, rect.height()), text, colour))
            y += rect.height() + 4
        strip_height = 160.0 if row_steps is not None else 0.0
        height = max(y, strip_height + 28) + 6
        left = frame.width - _PANEL_WIDTH - 10
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(_PANEL)
        painter.drawRoundedRect(QRectF(left, 10, _PANEL_WIDTH, height), 5, 5)
        text_left = left + (_STRIP_WIDTH + 20 if row_steps is not None else 8)
        for rect, text, colour in wrapped:
            painter.setPen(colour)
            painter.drawText(rect.translated(text_left, 10), int(Qt.TextFlag.TextWordWrap), text)
        if row_steps is not None:
            self._paint_strip(painter, QRectF(left + 8, 24, _STRIP_WIDTH, strip_height), row_steps, metrics)

    def _paint_strip(self, painter: QPainter, rect: QRectF, row_steps: np.ndarray, metrics) -> None:
        import numpy as np

        from dit360_desktop.panorama import qa

        # Four bytes a pixel keeps every scanline 32-bit aligned, as the GL paint engine's upload expects.
        rgb = qa.heat_strip_colours(row_steps)
        rgbx = np.ascontiguousarray(np.concatenate([rgb, np.full_like(rgb[..., :1], 255)], axis=-1))
        image = QImage(rgbx.data, 1, rgbx.shape[0], 4, QImage.Format.Format_RGBX8888).copy()
        painter.drawImage(rect, image)
        painter.setPen(_TEXT)
        small = QFont(painter.font())
        small.setPointSizeF(7.0)
        painter.setFont(small)
        painter.drawText(QRectF(rect.left() - 4, rect.top() - 13, 30, 12), "+90°")
        painter.drawText(QRectF(rect.left() - 4, rect.bottom() + 1, 30, 12), "−90°")


def _score(_ctx: OpContext, panorama: np.ndarray) -> object:
    """On the pool thread: the report, or the sentence saying why this picture cannot be scored."""
    from dit360_desktop.panorama import qa  # numpy: not on the start-up path

    try:
        return qa.assess(panorama)
    except ValueError as e:
        return str(e)


def _restore_unpack_alignment(painter: QPainter) -> None:
    """The renderer's uploads leave GL_UNPACK_ALIGNMENT at 1; Qt's glyph cache uploads glyphs assuming
    the default 4, and new glyphs come out sheared otherwise."""
    from OpenGL import GL

    painter.beginNativePainting()
    try:
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 4)
    finally:
        painter.endNativePainting()


def attach_quality_overlay(viewer) -> SeamQualityOverlay | None:
    """Add the seam-quality overlay to a viewer that takes overlays (not the no-OpenGL fallback)."""
    if not hasattr(viewer, "add_overlay"):
        return None
    overlay = SeamQualityOverlay(viewer)
    viewer.add_overlay(overlay)
    return overlay
