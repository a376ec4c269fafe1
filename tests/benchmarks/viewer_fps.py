"""Viewer frame rate at 1280×720 with an 8192×4096 panorama, per mode, against a clear-only baseline.

Run under an X server (Mesa llvmpipe here):
    xvfb-run -a -s "-screen 0 1600x1000x24" python tests/benchmarks/viewer_fps.py

Two measurements, each with its baseline from the same run:
- on screen: frames per second of the real viewer (render + swap into its native GL window), driven
  by a new frame request on every frameSwapped, against a QOpenGLWindow that only clears; "still" is a
  full-resolution frame, "moving" turns the camera every frame as a drag does (on software
  rasterisers the viewer then renders at half resolution until the view settles);
- render only: the viewer's draw call into a 1280×720 framebuffer, finished with glFinish (also at
  the half size used while moving on software rasterisers), against a glClear of the same framebuffer.
Plus the one-off panorama upload (tiles → cubemap → mipmaps) against a plain glTexImage2D of the
same pixels.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from PySide6.QtCore import QElapsedTimer, Qt
from PySide6.QtGui import QImage
from PySide6.QtOpenGL import QOpenGLWindow
from PySide6.QtWidgets import QApplication

from dit360_desktop.ui.common.image_input import qimage_to_rgb, rgb_to_qimage
from dit360_desktop.ui.viewer import ViewMode, create_viewer, prepare_application_opengl
from dit360_desktop.ui.viewer.gl_support import viewer_surface_format
from dit360_desktop.ui.viewer.render_settings import draw_settings
from dit360_desktop.ui.viewer.sample_panorama import sample_panorama

WIDTH, HEIGHT = 1280, 720
VIEWS = {
    ViewMode.PERSPECTIVE: (30.0, 5.0, 90.0),
    ViewMode.LITTLE_PLANET: (30.0, -90.0, 260.0),
    ViewMode.FLAT: (0.0, 0.0, 360.0),
    ViewMode.SEAM: (180.0, 0.0, 60.0),
}


class ClearOnly(QOpenGLWindow):
    """The cheapest possible frame: what a swap alone costs."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormat(viewer_surface_format())

    def gl_window(self) -> QOpenGLWindow:
        return self

    def request_frame(self) -> None:
        self.update()

    def paintGL(self) -> None:
        functions = self.context().functions()
        functions.glClearColor(0.1, 0.1, 0.1, 1.0)
        functions.glClear(0x00004000)


def on_screen_fps(app: QApplication, widget, seconds: float, *, turn: bool = False) -> float:
    """Frames per second when every swapped frame immediately asks for the next one.

    With ``turn`` each frame also turns the camera a little, as a drag does, so the viewer renders
    in its interactive mode (half resolution on software rasterisers).
    """
    frames = 0
    surface = widget.gl_window()

    def next_frame() -> None:
        nonlocal frames
        frames += 1
        if turn:
            widget.camera.rotate(0.5, 0.0)
        widget.request_frame()

    surface.frameSwapped.connect(next_frame)
    for _ in range(5):  # warm up: shader compilation, first frames
        widget.request_frame()
        app.processEvents()
    frames = 0
    clock = QElapsedTimer()
    clock.start()
    widget.request_frame()
    while clock.elapsed() < seconds * 1000:
        app.processEvents()
    elapsed = clock.elapsed() / 1000.0
    surface.frameSwapped.disconnect(next_frame)
    return frames / elapsed


def render_only_ms(viewer, settings, frames: int, scale: float = 1.0) -> tuple[float, float]:
    """Median milliseconds per frame for the viewer's draw and for a clear, into one framebuffer."""
    from OpenGL import GL

    renderer = viewer.renderer
    viewer.gl_window().makeCurrent()
    target = GL.glGenTextures(1)
    fbo = GL.glGenFramebuffers(1)
    try:
        GL.glBindTexture(GL.GL_TEXTURE_2D, target)
        GL.glTexImage2D(
            GL.GL_TEXTURE_2D, 0, GL.GL_RGBA8, WIDTH, HEIGHT, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, None
        )
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, target, 0)
        draw, clear = [], []
        for _ in range(frames):
            start = time.perf_counter()
            renderer.draw(settings, WIDTH, HEIGHT, fbo, scale=scale)
            GL.glFinish()
            draw.append(time.perf_counter() - start)
            start = time.perf_counter()
            GL.glClearColor(0.1, 0.1, 0.1, 1.0)
            GL.glClear(GL.GL_COLOR_BUFFER_BIT)
            GL.glFinish()
            clear.append(time.perf_counter() - start)
    finally:
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, viewer.gl_window().defaultFramebufferObject())
        GL.glDeleteFramebuffers(1, [fbo])
        GL.glDeleteTextures([target])
        viewer.gl_window().doneCurrent()
    return 1000 * float(np.median(draw)), 1000 * float(np.median(clear))


def plain_upload_ms(viewer, panorama: np.ndarray) -> float:
    from OpenGL import GL

    viewer.gl_window().makeCurrent()
    try:
        texture = GL.glGenTextures(1)
        GL.glBindTexture(GL.GL_TEXTURE_2D, texture)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        start = time.perf_counter()
        height, width = panorama.shape[:2]
        GL.glTexImage2D(
            GL.GL_TEXTURE_2D, 0, GL.GL_RGB8, width, height, 0, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, panorama
        )
        GL.glFinish()
        elapsed = time.perf_counter() - start
        GL.glDeleteTextures([texture])
    finally:
        viewer.gl_window().doneCurrent()
    return 1000 * elapsed


def big_panorama(width: int) -> np.ndarray:
    """The sample scene at 2048×1024, scaled up (the content does not change the frame cost)."""
    small = rgb_to_qimage(sample_panorama(2048, 1024))
    scaled = small.scaled(
        width, width // 2, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
    )
    return qimage_to_rgb(scaled.convertToFormat(QImage.Format.Format_RGB888))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="on-screen measuring time per case")
    parser.add_argument("--frames", type=int, default=30, help="render-only frames per case")
    parser.add_argument("--panorama-width", type=int, default=8192)
    args = parser.parse_args()

    prepare_application_opengl()
    app = QApplication(sys.argv)
    panorama = big_panorama(args.panorama_width)

    baseline = ClearOnly()
    baseline.resize(WIDTH, HEIGHT)
    baseline.show()
    clear_fps = on_screen_fps(app, baseline, args.seconds)
    baseline.close()

    viewer = create_viewer()
    if not hasattr(viewer, "renderer"):
        print(f"OpenGL viewer unavailable: {viewer.failure}", file=sys.stderr)
        return 1
    viewer.resize(WIDTH, HEIGHT)
    viewer.show()
    while viewer.renderer is None or not viewer.renderer.initialized:
        app.processEvents()
    viewer.set_panorama(panorama)
    viewer.snapshot(16, 16)  # performs the upload
    upload_ms = 1000 * viewer.renderer.stats.last_upload_s
    raw_ms = plain_upload_ms(viewer, panorama)

    software = " (software rasteriser)" if viewer.renderer.software else ""
    print(f"renderer: {viewer.renderer.renderer_name} | {viewer.renderer.gl_version}{software}")
    print(f"panorama {panorama.shape[1]}×{panorama.shape[0]}, window {WIDTH}×{HEIGHT}")
    print(
        f"upload to cubemap ({viewer.renderer.stats.face_size}px faces, mipmaps): {upload_ms:.0f} ms; "
        f"plain glTexImage2D of the same pixels: {raw_ms:.0f} ms (×{upload_ms / raw_ms:.1f})"
    )
    print(f"on-screen baseline, clear-only QOpenGLWindow: {clear_fps:.1f} fps")
    columns = ("still fps", "× baseline", "moving fps", "× baseline", "render ms", "half-size ms", "clear ms")
    columns += ("× clear",)
    print(f"{'mode':<16}" + " ".join(f"{c:>13}" for c in columns))
    for mode, (yaw, pitch, fov) in VIEWS.items():
        viewer.camera.set_mode(mode)
        viewer.camera.fov = fov
        viewer.camera.look_at(yaw, pitch)
        still = on_screen_fps(app, viewer, args.seconds)
        moving = on_screen_fps(app, viewer, args.seconds, turn=True)
        viewer.camera.look_at(yaw, pitch)
        settings = draw_settings(viewer.camera.view)
        draw_ms, clear_ms = render_only_ms(viewer, settings, args.frames)
        half_ms, _ = render_only_ms(viewer, settings, args.frames, scale=0.5)
        ratios = (
            still,
            still / clear_fps,
            moving,
            moving / clear_fps,
            draw_ms,
            half_ms,
            clear_ms,
            draw_ms / clear_ms,
        )
        print(f"{mode.value:<16}" + " ".join(f"{v:>13.2f}" for v in ratios))
    viewer.set_grid_visible(True)
    viewer.camera.set_mode(ViewMode.PERSPECTIVE)
    still = on_screen_fps(app, viewer, args.seconds)
    moving = on_screen_fps(app, viewer, args.seconds, turn=True)
    ratios = (still, still / clear_fps, moving, moving / clear_fps)
    print(f"{'perspective+grid':<16}" + " ".join(f"{v:>13.2f}" for v in ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
