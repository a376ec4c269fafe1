"""PanoramaViewer: a widget hosting the OpenGL window that renders the camera model over a panorama.

Why a QOpenGLWindow in a window container and not a QOpenGLWidget: a QOpenGLWidget turns the whole
top-level window into an OpenGL-composited one, so every repaint anywhere (a progress label, a tooltip)
recomposes the full window with OpenGL. On a software rasteriser (Mesa llvmpipe) that costs 18-30 ms
per update, and the UI thread stalled past 50 ms on every step of a generation. In a container, the
rest of the window stays a plain raster backing store and only the viewer's own area is drawn by
OpenGL. Input that Qt delivers to the GL window is forwarded to this widget, so event filters
(drag and drop, view shortcuts) and focus work as for any widget.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import QCoreApplication, QElapsedTimer, QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QImage,
    QOffscreenSurface,
    QOpenGLContext,
    QPainter,
    QWindow,
)
from PySide6.QtOpenGL import QOpenGLPaintDevice, QOpenGLWindow
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from dit360_desktop.ui.common.camera import (
    CameraView,
    PanoramaCamera,
    ViewMode,
    check_snapshot_fov,
    fov_for_pixel_scale,
)
from dit360_desktop.ui.common.image_input import as_rgb_array, rgb_to_qimage
from dit360_desktop.ui.common.overlay import OverlayFrame, ViewerOverlay
from dit360_desktop.ui.common.viewer_errors import OpenGLUnavailableError, ViewerError
from dit360_desktop.ui.viewer.edit_hooks import EditingHooks
from dit360_desktop.ui.viewer.gl_support import required_gl_version, viewer_surface_format, window_owner
from dit360_desktop.ui.viewer.input import ViewerInput
from dit360_desktop.ui.viewer.input_events import ViewerInputEvents
from dit360_desktop.ui.viewer.motion import AUTO_ROTATE_SPEED
from dit360_desktop.ui.viewer.overlays import DropZone, FocusRing, GridLabels, ViewReadout
from dit360_desktop.ui.viewer.render_settings import BACKGROUND, draw_settings

if TYPE_CHECKING:
    import numpy as np

    from dit360_desktop.ui.viewer.gl_mesh import MeshLayer

log = logging.getLogger(__name__)


def _release_renderer(renderer, address: int, surface: QOffscreenSurface) -> None:
    """Free the renderer's GL objects from QOpenGLContext.aboutToBeDestroyed.

    PySide has already invalidated its wrapper of the dying context when the signal arrives, but the
    C++ object is still intact (Qt emits the signal before deleting the native context), so it is
    wrapped again from its address to make it current.
    """
    if not shiboken6.isValid(surface):
        # Application teardown already took the window system down, and every context with it.
        return
    context = shiboken6.wrapInstance(address, QOpenGLContext)
    if renderer.initialized:
        if context.makeCurrent(surface):
            try:
                renderer.release()
            finally:
                context.doneCurrent()
        else:
            log.warning("could not make the viewer's OpenGL context current to free its objects")
    surface.destroy()


def _is_current(context: QOpenGLContext | None) -> bool:
    current = QOpenGLContext.currentContext()
    return (
        context is not None
        and current is not None
        and shiboken6.getCppPointer(current)[0] == shiboken6.getCppPointer(context)[0]
    )


FRAME_INTERVAL_MS = 16
_GL_UNPACK_ALIGNMENT, _GL_PACK_ALIGNMENT = 0x0CF5, 0x0D05
# On CPU rasterisers the view renders at half size while it moves (a quarter of the pixels, so
# several times the frame rate) and sharpens this long after it stops.
INTERACTIVE_SCALE = 0.5
SETTLE_MS = 150
# How long a staged upload's next step waits for a frame that was asked for and is not drawn (a hidden view).
FRAME_WAIT_MS = 100


# What the GL window passes on to its PanoramaViewer. Drag events arrive here only on platforms that
# deliver drops to child windows; on X11 they reach the widget tree directly, because the container
# is told not to accept drops (see PanoramaViewer.__init__).
_FORWARDED_EVENTS = frozenset(
    {
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseButtonRelease,
        QEvent.Type.MouseButtonDblClick,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
        QEvent.Type.KeyPress,
        QEvent.Type.KeyRelease,
        QEvent.Type.NativeGesture,
        QEvent.Type.TouchBegin,
        QEvent.Type.TouchUpdate,
        QEvent.Type.TouchEnd,
        QEvent.Type.TouchCancel,
        QEvent.Type.DragEnter,
        QEvent.Type.DragMove,
        QEvent.Type.DragLeave,
        QEvent.Type.Drop,
        QEvent.Type.ContextMenu,
        QEvent.Type.Leave,
    }
)


class _ViewerSurface(QOpenGLWindow):
    """The native OpenGL window inside a PanoramaViewer; it draws, the viewer decides what."""

    def __init__(self, viewer: PanoramaViewer, parent: QWindow) -> None:
        super().__init__(QOpenGLWindow.UpdateBehavior.NoPartialUpdate, parent)
        self.setFormat(viewer_surface_format())
        # Keyboard focus stays with the PanoramaViewer widget, so window shortcuts and the view's key
        # filters see keys exactly as for any other widget.
        self.setFlag(Qt.WindowType.WindowDoesNotAcceptFocus, True)
        # Weak: the viewer owns this window through its container; a strong reference would be a cycle
        # between two Python wrappers that Qt also owns.
        self._viewer = weakref.ref(viewer)
        self._forwarding = False

    def initializeGL(self) -> None:
        try:
            if (viewer := self._viewer()) is not None:
                viewer._initialize_gl(self.context())
        finally:
            self._leave_current()

    def resizeGL(self, width: int, height: int) -> None:
        if (viewer := self._viewer()) is not None:
            viewer._viewport_resized(width, height)

    def paintGL(self) -> None:
        try:
            if (viewer := self._viewer()) is not None:
                viewer._paint_gl()
        finally:
            self._leave_current()

    def _leave_current(self) -> None:
        # After initializeGL and paintGL, QOpenGLWindow goes on with QOpenGLContext.currentContext()
        # without checking it: returning with no current context segfaulted in this window's event()
        # (a set-up whose context had stopped being current, under load with Xvfb + llvmpipe).
        if _is_current(self.context()):
            return
        log.warning("the viewer's OpenGL context was not current after drawing; making it current again")
        self.makeCurrent()
        if not _is_current(self.context()) and (viewer := self._viewer()) is not None:
            viewer._fail("The viewer's OpenGL context could not be made current, so it cannot draw.")

    def event(self, event: QEvent) -> bool:
        if event.type() in _FORWARDED_EVENTS and (viewer := self._viewer()) is not None:
            if event.type() == QEvent.Type.MouseButtonPress:
                viewer.setFocus(Qt.FocusReason.MouseFocusReason)
            if self._forwarding:
                # Qt sends drag moves and drops to the widget that accepted the drag-enter; were that
                # the container, it would hand the event back here and round it would go until
                # Python's recursion limit (issue 13: a RecursionError on every real drag).
                event.ignore()
                return False
            self._forwarding = True
            try:
                QCoreApplication.sendEvent(viewer, event)
            finally:
                self._forwarding = False
            return True
        return super().event(event)


class PanoramaViewer(ViewerInputEvents, EditingHooks, QWidget):
    """360° viewer. Input changes ``camera``; the widget re-renders whenever the camera changes."""

    gl_failed = Signal(str)
    camera_changed = Signal(object)  # CameraView
    fullscreen_changed = Signal(bool)
    grid_visible_changed = Signal(bool)
    auto_rotate_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(160, 90)
        self.setToolTip("Drag to look around, scroll to zoom. Press F11 for fullscreen.")
        self.grabGesture(Qt.GestureType.PinchGesture)
        self._owner = window_owner()  # see there: who deletes the GL window
        self._surface = _ViewerSurface(self, self._owner)
        self._container = QWidget.createWindowContainer(self._surface, self)
        self._container.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        # A window container accepts drops and passes them to its window, which passes them to this
        # widget; Qt then makes the container the drag's target and sends it every later move, which
        # comes back here. Declining drops lets them reach this widget (and its filters) directly.
        self._container.setAcceptDrops(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._container)
        # Shown in the GL window's place once OpenGL has failed (until the app swaps in ViewerUnavailable).
        self._failure_label = QLabel(self)
        self._failure_label.setObjectName("ViewerFailure")
        self._failure_label.setWordWrap(True)
        self._failure_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._failure_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._failure_label.hide()
        layout.addWidget(self._failure_label)
        self._set_cursor(Qt.CursorShape.OpenHandCursor)
        self.camera = PanoramaCamera()
        self.camera.add_listener(self._camera_moved)
        self.input = ViewerInput(self.camera)
        self._renderer = None  # gl_renderer.PanoramaRenderer, created in initializeGL
        # None until the first frame after a (re)initialisation, False until its overlays are due.
        self._overlays_after: bool | None = None
        self._mesh_layer = None  # gl_mesh.MeshLayer, made by the first parallax_layer() call
        self._panorama: np.ndarray | None = None
        self._preview: np.ndarray | None = None
        self._grid = False
        self._auto_rotate = False
        self._failure: str | None = None
        self._clock = QElapsedTimer()
        self._clock.start()
        self._last_tick_ms = 0
        self._timer = QTimer(self)
        self._timer.setInterval(FRAME_INTERVAL_MS)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._last_move_ms = -SETTLE_MS
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self._settled)
        self._home: tuple[QWidget | None, Qt.WindowType] | None = None
        # Qt makes tooltips from hover events on widgets, and the pointer is over the native GL window,
        # not this widget; show the tooltip after the same pause Qt uses.
        self._hover = QTimer(self)
        self._hover.setSingleShot(True)
        self._hover.setInterval(700)
        self._hover.timeout.connect(self._show_tooltip)
        self.setMouseTracking(True)  # else Qt drops the forwarded button-less moves the tooltip needs
        self._upload_timer = QTimer(self)
        self._upload_timer.setSingleShot(True)
        self._upload_timer.setInterval(2)  # polls a fence while the driver works; 0 would spin
        self._upload_timer.timeout.connect(self._advance_upload)
        self._frame_deferred = False  # a frame asked for during a thread upload: drawn between its steps
        self._frame_pending_since: int | None = None  # when a frame was asked for that is not drawn yet
        self._step_next = False  # the upload thread's step comes before the next frame
        self._viewport_width_px = 1  # at the last resizeGL, to tell whether the view was 1:1 before
        self._readout = ViewReadout()
        self._grid_labels = GridLabels()
        self._drop_zone = DropZone()
        # Painted in this order, over the panorama; tools add theirs with add_overlay.
        self._overlays: list[ViewerOverlay] = [
            self._grid_labels, self._readout, FocusRing(self.hasFocus), self._drop_zone,
        ]  # fmt: skip

    # Public API shared with ViewerUnavailable -----------------------------------------------------

    @property
    def failure(self) -> str | None:
        """Why OpenGL stopped working, or None while it works."""
        return self._failure

    @property
    def panorama(self) -> np.ndarray | None:
        """The full panorama last given to set_panorama (None before that)."""
        return self._panorama

    @property
    def grid_visible(self) -> bool:
        return self._grid

    @property
    def auto_rotate(self) -> bool:
        return self._auto_rotate

    @property
    def renderer(self):
        """The GL renderer (None until the widget has been shown once)."""
        return self._renderer

    def set_panorama(self, image: QImage | np.ndarray) -> None:
        """Show a full equirect panorama. The array is kept (not copied); do not modify it afterwards.

        Once the view is running, the upload is staged: converted a step at a time between frames
        (the current picture stays until it is done), so a large panorama never blocks the UI thread
        for the whole conversion. Snapshots and grabs always show the panorama set last.
        """
        array = as_rgb_array(image)
        self._panorama = array
        self._preview = None
        if not self._stage(array) and self._renderer is not None:
            self._renderer.set_panorama(array)
        self.request_frame()

    def set_preview(self, array: np.ndarray) -> None:
        """Show a small live preview; uploaded at most once per frame into a reused texture."""
        import numpy as np

        preview = np.array(as_rgb_array(array, what="preview", warn_aspect=False), copy=True)
        self._preview = preview
        if self._renderer is not None:
            self._renderer.set_preview(preview)
        self.request_frame()

    def _stage(self, array: np.ndarray) -> bool:
        renderer = self._renderer
        if renderer is None or not renderer.initialized or self._failure or not self._surface.isExposed():
            return False
        self._surface.makeCurrent()
        try:
            staged = renderer.stage_panorama(array)
        finally:
            self._surface.doneCurrent()
        if staged:
            self._upload_timer.start()
        return staged

    def _advance_upload(self) -> None:
        """One step of a staged upload per event-loop turn, so input and paints get in between."""
        renderer = self._renderer
        if renderer is None or not renderer.initialized or not renderer.staging or self._failure:
            return
        from OpenGL.error import Error as PyOpenGLError

        self._surface.makeCurrent()
        try:
            done = renderer.advance_staged()
        except (ViewerError, PyOpenGLError) as e:
            self._fail(f"The viewer could not show the panorama: {e}")
            return
        finally:
            self._surface.doneCurrent()
        if done:
            self._frame_deferred = False
            self.request_frame()
            return
        if renderer.upload_on_thread and not renderer.upload_step_running:
            # Frames asked for meanwhile and the thread's steps alternate; a step waits until the frame
            # before it is drawn (or, for a view that is not drawn at all, a moment).
            since = self._frame_pending_since
            if since is not None and self._clock.elapsed() - since > FRAME_WAIT_MS:
                self._frame_pending_since = since = None
            if since is None:
                if self._frame_deferred and not self._step_next:
                    self._frame_deferred = False
                    self._frame_pending_since = self._clock.elapsed()
                    self._surface.update()
                    self._step_next = True
                elif renderer.give_upload_turn():
                    self._step_next = False
        self._upload_timer.start()

    def parallax_layer(self) -> MeshLayer:
        """The parallax preview (``gl_mesh.MeshLayer``): set a mesh, the eye or side-by-side stereo on it,
        then call request_frame."""
        if self._mesh_layer is None:
            from dit360_desktop.ui.viewer.gl_mesh import MeshLayer

            self._mesh_layer = MeshLayer()
            if self._renderer is not None:
                self._renderer.mesh = self._mesh_layer
        return self._mesh_layer

    @property
    def readout_visible(self) -> bool:
        return self._readout.enabled

    def set_readout_visible(self, visible: bool) -> None:
        """Show or hide the yaw/pitch/FOV readout in the corner of the view."""
        self._readout.enabled = bool(visible)
        self.request_frame()

    @property
    def drop_highlighted(self) -> bool:
        return self._drop_zone.enabled

    def set_drop_highlight(self, on: bool) -> None:
        """Show the drop zone over the view (a file is being dragged over the window)."""
        if bool(on) != self._drop_zone.enabled:
            self._drop_zone.enabled = bool(on)
            self.request_frame()

    def add_overlay(self, overlay: ViewerOverlay) -> None:
        """Paint ``overlay`` over the view on every frame where ``overlay.visible()``; call
        request_frame when what it paints changes."""
        self._overlays.insert(len(self._overlays) - 1, overlay)  # under the drop zone
        self.request_frame()

    def remove_overlay(self, overlay: ViewerOverlay) -> None:
        self._overlays.remove(overlay)
        self.request_frame()

    def _width_px(self) -> int:
        return max(1, round(self._surface.width() * self._surface.devicePixelRatio()))

    def pixel_scale(self, width_px: int | None = None) -> float | None:
        """Screen pixels per panorama pixel at the centre of the view (1.0 is 1:1), None without one."""
        if self._panorama is None:
            return None
        width = width_px or self._width_px()
        return (360.0 / self._panorama.shape[1]) / self.camera.degrees_per_pixel(width)

    def at_actual_pixels(self, width_px: int | None = None) -> bool:
        scale = self.pixel_scale(width_px)
        return scale is not None and abs(scale - 1.0) < 1e-6

    def show_actual_pixels(self) -> None:
        """Zoom so one screen pixel shows one panorama pixel at the centre (in the flat view, everywhere:
        it then copies the panorama's pixels unfiltered)."""
        if self._panorama is None:
            return
        self.camera.fov = fov_for_pixel_scale(self.camera.mode, self._width_px(), self._panorama.shape[1])

    def _viewport_resized(self, width: int, height: int) -> None:
        actual = self.at_actual_pixels(self._viewport_width_px)
        self.input.set_viewport(width, height)
        self._viewport_width_px = self._width_px()
        if actual:
            self.show_actual_pixels()  # 1:1 stays 1:1 when the window changes size

    def fit_panorama(self) -> None:
        """The flat view of the whole panorama, as large as the view allows."""
        self.input.inertia.stop()
        self.camera.fit()

    def set_grid_visible(self, visible: bool) -> None:
        if bool(visible) != self._grid:
            self._grid = bool(visible)
            self._grid_labels.enabled = self._grid
            self.grid_visible_changed.emit(self._grid)
            self.request_frame()

    def set_auto_rotate(self, enabled: bool) -> None:
        if bool(enabled) != self._auto_rotate:
            self._auto_rotate = bool(enabled)
            self.auto_rotate_changed.emit(self._auto_rotate)
        self._update_timer()

    def inspect_seam(self) -> None:
        self.input.inertia.stop()
        self.camera.inspect_seam()

    def set_mode(self, mode: ViewMode | str) -> None:
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
        """Render the current view (or ``view``) at width×height, optionally another fov, into a QImage."""
        view = view or self.camera.view
        check_snapshot_fov(view.mode, fov)
        if self._failure:
            raise OpenGLUnavailableError(self._failure)
        if self._renderer is None or not self._renderer.initialized:
            raise ViewerError("The viewer has not been shown yet, so it cannot take a snapshot.")
        if not self._renderer.has_image:
            raise ViewerError("There is no panorama to export yet.")
        settings = draw_settings(view, fov=fov, grid=overlays and self._grid)
        if not overlays:
            settings = dataclasses.replace(settings, seam=False)
        self._surface.makeCurrent()
        try:
            pixels = self._renderer.render_offscreen(
                settings, width, height, self._surface.defaultFramebufferObject(), mask=overlays
            )
        finally:
            self._surface.doneCurrent()
        return rgb_to_qimage(pixels)

    def toggle_fullscreen(self) -> None:
        """Move the viewer into its own fullscreen window and back into its place."""
        if self._home is None:
            self._home = (self.parentWidget(), self.windowFlags())
            self.setWindowFlag(Qt.WindowType.Window, True)
            self.showFullScreen()
            self.fullscreen_changed.emit(True)
        else:
            parent, flags = self._home
            self._home = None
            self.setWindowFlags(flags)
            if parent is not None and parent.layout() is not None:
                parent.layout().invalidate()
            self.showNormal()
            self.show()
            self.fullscreen_changed.emit(False)
        self.setFocus()

    # The GL window -----------------------------------------------------------------------------------

    def _overlays_due(self) -> None:
        self._overlays_after = True
        self.request_frame()

    def request_frame(self) -> None:
        """Schedule a repaint of the view (coalesced with any other before the next frame)."""
        if self._renderer is not None and self._renderer.upload_on_thread:
            # Frames and the upload thread's steps take turns (_advance_upload).
            self._frame_deferred = True
            return
        self._frame_pending_since = self._clock.elapsed()
        self._surface.update()

    def gl_window(self) -> QOpenGLWindow:
        """The OpenGL window that draws the view (for grabbing frames and making its context current)."""
        return self._surface

    def grabFramebuffer(self) -> QImage:
        """Render a frame now and return it (as QOpenGLWidget.grabFramebuffer did).

        QOpenGLWindow's own grab only reads back what is in the back buffer, so draw into it first.
        """
        if not self._surface.isExposed():
            raise ViewerError("The viewer is not on screen, so it has no frame to grab.")
        self._surface.makeCurrent()
        if self._renderer is not None and self._renderer.initialized:
            self._renderer.finish_staged()
        # A grab is a still: never the reduced-resolution frame drawn while the camera is moving (a grab
        # within SETTLE_MS of a zoom or resize came back blurred on a loaded machine).
        self._paint_gl(still=True)
        return self._surface.grabFramebuffer()

    def _set_cursor(self, shape: Qt.CursorShape) -> None:
        self.setCursor(shape)
        self._surface.setCursor(shape)

    def _initialize_gl(self, context: QOpenGLContext) -> None:
        if not self._make_current(context):
            self._fail("The viewer's OpenGL context could not be made current, so it cannot draw.")
            return
        major, minor = required_gl_version()
        got = context.format()
        if (got.majorVersion(), got.minorVersion()) < (major, minor):
            self._fail(
                f"The viewer got OpenGL {got.majorVersion()}.{got.minorVersion()} but needs {major}.{minor}."
            )
            return
        from dit360_desktop.ui.viewer.gl_renderer import PanoramaRenderer

        renderer = self._renderer or PanoramaRenderer()
        if not self._set_up(context, renderer.initialize):
            return
        self._renderer = renderer
        self._overlays_after = None
        # The shaders compile in a turn of their own, one frame interval on (compile_programs); a frame
        # that needs a program before then compiles it itself.
        QTimer.singleShot(FRAME_INTERVAL_MS, self, self._compile_programs)
        renderer.mesh = self._mesh_layer
        if self._panorama is not None and not renderer.has_image:
            renderer.set_panorama(self._panorama)
        if self._preview is not None:
            renderer.set_preview(self._preview)
        renderer.mask.set(self._edit_mask)
        # The context goes away when the widget dies, or when it moves to another window and Qt
        # replaces it; free the GL objects just before. The slot must not need this widget (it may
        # be half destroyed by then), so it makes the context current on its own offscreen surface.
        surface = QOffscreenSurface()
        surface.setFormat(context.format())
        surface.create()
        context.aboutToBeDestroyed.connect(
            functools.partial(_release_renderer, renderer, shiboken6.getCppPointer(context)[0], surface),
            Qt.ConnectionType.DirectConnection,
        )

    def _set_up(self, context: QOpenGLContext, step: Callable[[], None]) -> bool:
        """Run a GL set-up step; on failure the viewer says why (and stays blank) and this returns False."""
        from OpenGL.error import Error as PyOpenGLError

        try:
            step()
        except (OpenGLUnavailableError, PyOpenGLError) as e:
            self._set_up_failed(context, e)
            return False
        except Exception as e:
            # Qt drops exceptions raised in its GL overrides, which would leave a silently blank viewer;
            # a driver binding can fail in many ways (ctypes, missing entry points), so report any.
            log.exception("viewer OpenGL set-up failed")
            self._fail(f"The viewer could not set up OpenGL ({type(e).__name__}: {e}).")
            return False
        return True

    def _set_up_failed(self, context: QOpenGLContext, error: Exception) -> None:
        if not _is_current(context):
            # Seen under heavy load with Xvfb + llvmpipe: a link "failed" with an empty log because the
            # context was no longer current; the shaders themselves were fine.
            self._fail(f"The viewer lost its OpenGL context while setting up its shaders ({error}).")
        else:
            self._fail(f"The viewer could not set up OpenGL: {error}")

    def _compile_programs(self) -> None:
        renderer = self._renderer
        if self._failure or renderer is None or not renderer.initialized:
            return  # failed already, or the context went away (it compiles again with the next one)
        context = self._surface.context()
        if not self._make_current(context):
            self._fail("The viewer's OpenGL context could not be made current, so it cannot draw.")
            return
        self._set_up(context, renderer.compile_programs)

    def _paint_gl(self, *, still: bool = False) -> None:
        surface = self._surface
        self._frame_pending_since = None
        if not self._make_current(surface.context()):
            self._fail("The viewer's OpenGL context could not be made current, so it cannot draw.")
            return
        if self._failure or self._renderer is None or not self._renderer.initialized:
            functions = surface.context().functions()
            functions.glClearColor(*BACKGROUND, 1.0)
            functions.glClear(0x00004000)  # GL_COLOR_BUFFER_BIT
            return
        from OpenGL.error import Error as PyOpenGLError

        ratio = surface.devicePixelRatio()
        width, height = round(surface.width() * ratio), round(surface.height() * ratio)
        moving = not still and self._clock.elapsed() - self._last_move_ms < SETTLE_MS
        scale = INTERACTIVE_SCALE if moving and self._renderer.software else 1.0
        settings = draw_settings(self.camera.view, grid=self._grid)
        try:
            self._renderer.draw(settings, width, height, surface.defaultFramebufferObject(), scale=scale)
            # Qt's GL paint engine crashes on a painter begun or ended without a current context.
            if not self._make_current(surface.context()):
                self._fail("The viewer's OpenGL context stopped being current while it drew.")
                return
            if not self._overlays_after and not still:
                # The first painter on a context compiles Qt's paint-engine shaders (~20 ms on llvmpipe):
                # not in the frames Qt draws right after initializeGL (one turn of the event loop), but
                # one frame interval later, on a timer. A grab (``still``) is a whole frame at once.
                if self._overlays_after is None:
                    QTimer.singleShot(FRAME_INTERVAL_MS, self, self._overlays_due)
                    self._overlays_after = False
                return
            self._overlays_after = True
            self._paint_overlays(width, height, ratio)
        except OpenGLUnavailableError as e:
            # A program compiled by the first frame that needs it (before compile_programs ran, or a
            # mode's own) failed as it would have at set-up.
            self._set_up_failed(surface.context(), e)
        except (ViewerError, PyOpenGLError) as e:
            self._fail(f"The viewer stopped drawing: {e}")
        except Exception as e:
            # As in initializeGL: Qt would swallow it and leave the view frozen without a word.
            log.exception("viewer frame failed")
            self._fail(f"The viewer stopped drawing ({type(e).__name__}: {e}).")

    def _make_current(self, context: QOpenGLContext | None) -> bool:
        # Qt does not check that its makeCurrent worked; GL calls would then go to no context at all.
        if not _is_current(context):
            log.warning("the viewer's OpenGL context was not current during a frame; making it current")
            self._surface.makeCurrent()
        return _is_current(context)

    def _paint_overlays(self, width: int, height: int, ratio: float) -> None:
        visible = [overlay for overlay in self._overlays if overlay.visible()]
        if not visible:
            return
        # Qt's paint engine uploads glyphs assuming the default pixel-store state; the renderer's uploads
        # leave GL_UNPACK_ALIGNMENT at 1, which garbled the text of labels drawn after them.
        functions = self._surface.context().functions()
        functions.glPixelStorei(_GL_UNPACK_ALIGNMENT, 4)
        functions.glPixelStorei(_GL_PACK_ALIGNMENT, 4)
        device = QOpenGLPaintDevice(QSize(width, height))
        device.setDevicePixelRatio(ratio)
        frame = OverlayFrame(self.camera.view, width / ratio, height / ratio, self.pixel_scale())
        painter = QPainter(device)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
            for overlay in visible:
                painter.save()
                overlay.paint(painter, frame)
                painter.restore()
        finally:
            painter.end()

    def _fail(self, message: str) -> None:
        if self._failure:
            return
        self._failure = message
        log.error("%s", message)
        for timer in (self._timer, self._settle, self._upload_timer):
            timer.stop()
        # Queued: the GL window must not be hidden inside its own initializeGL/paintGL, nor a slot that
        # replaces this widget run there.
        QTimer.singleShot(0, self, functools.partial(self._show_failure, message))

    def _show_failure(self, message: str) -> None:
        # The GL window is hidden for good: once its context has failed, every further expose or update
        # painted through it again (a paint on a context that was no longer current crashed the app on
        # quit, in the window's event handler). The message takes its place until the app swaps in
        # ViewerUnavailable.
        self._container.hide()
        self._failure_label.setText(f"3D viewer unavailable\n\n{message}")
        self._failure_label.show()
        self.gl_failed.emit(message)

    def _camera_moved(self, view: CameraView) -> None:
        self._last_move_ms = self._clock.elapsed()
        self._settle.start(SETTLE_MS)  # _settled may have shortened the interval
        self.camera_changed.emit(view)
        self.request_frame()

    def _settled(self) -> None:
        # A coarse timer may fire up to 5 % early; a frame painted then still counts as moving and would
        # stay at half resolution until the next input, so wait out the rest before the sharp frame.
        remaining = SETTLE_MS - (self._clock.elapsed() - self._last_move_ms)
        if remaining > 0:
            self._settle.start(remaining)
        else:
            self.request_frame()

    def _update_timer(self) -> None:
        wanted = (self._auto_rotate or self.input.animating) and self.isVisible() and not self._failure
        if wanted and not self._timer.isActive():
            self._last_tick_ms = self._clock.elapsed()
            self._timer.start()
        elif not wanted and self._timer.isActive():
            self._timer.stop()

    def _tick(self) -> None:
        now = self._clock.elapsed()
        dt = min(0.1, (now - self._last_tick_ms) / 1000.0)
        self._last_tick_ms = now
        self.input.tick(dt)
        if self._auto_rotate and not self.input.dragging:
            self.camera.rotate(AUTO_ROTATE_SPEED * dt, 0.0)
        self._update_timer()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._update_timer()

    def hideEvent(self, event) -> None:
        self._timer.stop()
        super().hideEvent(event)
