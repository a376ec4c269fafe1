"""The viewer widget's Qt input handlers: they translate Qt events into calls on ``ViewerInput``.

A mixin of ``PanoramaViewer`` (gl_widget.py), kept apart so the widget module holds the GL life cycle and
this one the event plumbing. The handlers only change the input/camera models; rendering follows them.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QCursor, QNativeGestureEvent
from PySide6.QtWidgets import QGestureEvent, QPinchGesture, QToolTip


class ViewerInputEvents:
    def _now(self) -> float:
        return self._clock.elapsed() / 1000.0

    def _show_tooltip(self) -> None:
        if self.toolTip() and self.isVisible():
            QToolTip.showText(QCursor.pos(), self.toolTip(), self)

    def leaveEvent(self, event) -> None:
        self._hover.stop()
        super().leaveEvent(event)

    def mousePressEvent(self, event) -> None:
        self._hover.stop()
        QToolTip.hideText()
        look = self._look_press(event)
        if look is not None:
            if look or self.input.tool is None:
                self._set_cursor(Qt.CursorShape.ClosedHandCursor)
            self.input.press(event.position().x(), event.position().y(), self._now(), look=look)
            self._update_timer()
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if event.buttons() == Qt.MouseButton.NoButton:
            QToolTip.hideText()
            self._hover.start()
        self.input.move(event.position().x(), event.position().y(), self._now())

    def mouseReleaseEvent(self, event) -> None:
        if self._look_press(event) is not None:
            self._set_cursor(self._idle_cursor())
            self.input.release(self._now())
            self._update_timer()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:
        if self.input.tool is not None:
            self.mousePressEvent(event)  # a quick second dab with a tool, not fullscreen
        elif event.button() == Qt.MouseButton.LeftButton:
            self.toggle_fullscreen()

    def wheelEvent(self, event) -> None:
        # Pixel deltas are only trustworthy from macOS trackpads; X11 drivers report arbitrary values.
        pixel = event.pixelDelta().y() if sys.platform == "darwin" else 0
        self.input.wheel(event.angleDelta().y(), pixel)
        event.accept()

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key == Qt.Key.Key_F11 or (key == Qt.Key.Key_Escape and self._home is not None):
            self.toggle_fullscreen()
        elif key == Qt.Key.Key_G and not event.isAutoRepeat():
            self.set_grid_visible(not self._grid)
        elif key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self.set_auto_rotate(not self._auto_rotate)
        elif event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier):
            super().keyPressEvent(event)  # leave shortcuts such as Ctrl+Enter to the window
            return
        elif not self.input.key_press(key, event.isAutoRepeat()):
            super().keyPressEvent(event)
            return
        self._update_timer()
        event.accept()

    def keyReleaseEvent(self, event) -> None:
        if self.input.key_release(event.key(), event.isAutoRepeat()):
            self._update_timer()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusInEvent(self, event) -> None:
        super().focusInEvent(event)
        self.request_frame()  # the focus ring

    def focusOutEvent(self, event) -> None:
        self.input.release_keys()
        super().focusOutEvent(event)
        self.request_frame()

    def event(self, event: QEvent) -> bool:
        if isinstance(event, QNativeGestureEvent):
            # macOS trackpad pinch: value() is the change in magnification since the last event.
            if event.gestureType() == Qt.NativeGestureType.ZoomNativeGesture:
                self.input.pinch(1.0 + event.value())
                return True
        elif event.type() == QEvent.Type.Gesture and isinstance(event, QGestureEvent):
            pinch = event.gesture(Qt.GestureType.PinchGesture)
            if isinstance(pinch, QPinchGesture):
                self.input.pinch(pinch.scaleFactor())
                event.accept(pinch)
                return True
        return super().event(event)
