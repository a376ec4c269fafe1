"""Panorama uploads on a thread of their own, in an OpenGL context that shares the viewer's textures.

Opening an 8192×4096 panorama for editing stalled the UI thread for up to 0.9 s, in the driver: the
mipmapped 2608 px cubemap is allocated and cleared (about 160 ms on llvmpipe), the 8192×4096 source is
allocated (90 ms) and converted from RGB to the driver's layout (260 ms), each in one GL call that cannot
be split (issue 21 item 13). ctypes releases the GIL around every GL call, so on this thread those calls
cost the UI thread nothing. The conversion itself is drawn here too, in bands (gl_cubemap.BAND_ROWS),
so that a frame of the viewer never waits long behind it in a software rasteriser.

The renderer submits an ``UploadJob`` and polls ``job.done`` from its upload timer; when the job is done
the finished cubemap (a texture name valid in both contexts) is swapped in on the UI thread. Frame
buffers and vertex arrays are not shared between contexts, so the thread's converter has its own, and
its own copy of the conversion program (uniforms live in the program: sharing it with the UI thread's
preview uploads would race).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator

import shiboken6
from OpenGL import GL
from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QOffscreenSurface, QOpenGLContext

from dit360_desktop.ui.viewer.gl_cubemap import CubemapConversion, Upload
from dit360_desktop.ui.viewer.gl_program import ShaderProgram

log = logging.getLogger(__name__)

# A fence that takes longer than this is a driver that hangs; the job fails and the UI thread takes over.
FENCE_TIMEOUT_NS = 20_000_000_000
_END = object()


class UploadJob:
    """One ``Upload`` handed to the thread; ``done`` is set when it finished, failed or was cancelled."""

    def __init__(self, upload: Upload, max_texture_size: int) -> None:
        self.upload = upload
        self.max_texture_size = max_texture_size
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.steps = 0
        self.finished = False  # the cubemap is complete and belongs to whoever dropped or adopted the job
        # Turns: the thread runs a step only when the UI thread gives it one (``turn``), and the UI thread
        # draws only between steps. Mesa holds the share group's texture lock through a long texture call
        # (allocating the cubemap, uploading the source) and compiles shader variants and rasterises under
        # locks every context shares, so a frame drawn meanwhile waited 160-600 ms for the thread.
        self.wants_turn = False
        self.turn = threading.Event()
        self._lock = threading.Lock()
        self._cancelled = False

    def cancel(self) -> int:
        """Stop the job; returns a finished cubemap the caller must delete (0 when the thread does)."""
        with self._lock:
            self._cancelled = True
            self.turn.set()
            return self.upload.cube if self.finished else 0

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def _finish(self) -> bool:
        """Mark it finished unless cancelled meanwhile; False means the thread must delete the cube."""
        with self._lock:
            self.finished = not self._cancelled
            return self.finished


class _ThreadConverter(CubemapConversion):
    """The conversion with the thread context's own program, frame buffers and vertex array."""

    def __init__(self, vertex_source: str, fragment_source: str) -> None:
        self._convert_program = ShaderProgram(vertex_source, fragment_source, "cubemap conversion (upload)")
        self._vao = int(GL.glGenVertexArrays(1))
        self._fbo = int(GL.glGenFramebuffers(1))
        self._blit_fbo = 0
        self.max_texture_size = 0

    def _conversion_program(self) -> ShaderProgram:
        return self._convert_program

    def steps(self, upload: Upload) -> Iterator[None]:
        """The conversion of ``upload``, a step per ``next``."""
        return self._conversion_steps(upload)

    def _until_done(self, upload: Upload):
        # This thread can simply wait (the GIL is released while it does); the step, and the turn, end
        # when the driver is done with it.
        fence = GL.glFenceSync(GL.GL_SYNC_GPU_COMMANDS_COMPLETE, 0)
        status = GL.glClientWaitSync(fence, GL.GL_SYNC_FLUSH_COMMANDS_BIT, FENCE_TIMEOUT_NS)
        GL.glDeleteSync(fence)
        if status == GL.GL_TIMEOUT_EXPIRED:
            raise TimeoutError("the graphics driver did not finish a cubemap band within 20 s")
        yield from ()

    def delete(self) -> None:
        self._convert_program.delete()
        GL.glDeleteVertexArrays(1, [self._vao])
        GL.glDeleteFramebuffers(1, [self._fbo])
        if self._blit_fbo:
            GL.glDeleteFramebuffers(1, [self._blit_fbo])


class UploadThread:
    """A daemon thread with a context sharing ``share``'s objects; ``submit`` jobs, ``stop`` before the
    shared context goes away. Create it on the UI thread (the offscreen surface must be made there)."""

    def __init__(self, share: QOpenGLContext, vertex_source: str, fragment_source: str) -> None:
        self._surface = QOffscreenSurface()
        self._surface.setFormat(share.format())
        self._surface.create()
        self._share = share
        self._sources = (vertex_source, fragment_source)
        self._jobs: queue.SimpleQueue[UploadJob | None] = queue.SimpleQueue()
        # A daemon thread: an app that quits without releasing the viewer is not held up by it. Its
        # context and program are made on it, not waited for here (a shader compile on llvmpipe is tens
        # of ms); jobs submitted meanwhile wait in the queue.
        self._thread = threading.Thread(target=self._run, name="ViewerUpload", daemon=True)
        self._stopped = False
        self._thread.start()
        # Before the application's teardown deletes Qt objects (this thread's context among them, from the
        # UI thread) and the window system: a thread still drawing then crashed the quitting app.
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop)

    @classmethod
    def for_current_context(cls, vertex_source: str, fragment_source: str) -> UploadThread | None:
        """A thread sharing the current context's objects, or None where the platform cannot (then the
        UI thread converts in steps, as before)."""
        share = QOpenGLContext.currentContext()
        if share is None or not QOpenGLContext.supportsThreadedOpenGL():
            return None
        return cls(share, vertex_source, fragment_source)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, upload: Upload, max_texture_size: int) -> UploadJob:
        job = UploadJob(upload, max_texture_size)
        self._jobs.put(job)
        return job

    def stop(self) -> None:
        """Finish (cancelled jobs end at their next band) and free the thread's context; once."""
        if self._stopped:
            return
        self._stopped = True  # a job waiting for its turn gives up (_convert)
        self._jobs.put(None)
        self._thread.join(30)
        if shiboken6.isValid(self._surface):
            self._surface.destroy()

    def _run(self) -> None:
        # The context is made on this thread, so it belongs to it (Qt refuses to make a context current
        # on a thread other than its own).
        context = QOpenGLContext()
        context.setShareContext(self._share)
        context.setFormat(self._share.format())
        converter, problem = None, ""
        try:
            if not context.create() or not context.makeCurrent(self._surface):
                problem = "no OpenGL context could be made for it"
            elif not QOpenGLContext.areSharing(context, self._share):
                problem = "the driver would not share textures between contexts"
            else:
                converter = _ThreadConverter(*self._sources)
        except Exception as e:
            problem = f"{type(e).__name__}: {e}"
        if converter is None:
            # Every job fails at once, and the renderer converts it on the UI thread in steps.
            log.warning("Panorama uploads stay on the UI thread: %s", problem)
            while (job := self._jobs.get()) is not None:
                job.error = RuntimeError(problem)
                job.done.set()
            shiboken6.delete(context)
            return
        while (job := self._jobs.get()) is not None:
            self._convert(converter, job)
        converter.delete()
        context.doneCurrent()
        # Deleted here, on its own thread, not by the interpreter's or Qt's teardown on the UI thread.
        shiboken6.delete(context)

    def _convert(self, converter: _ThreadConverter, job: UploadJob) -> None:
        upload = job.upload
        converter.max_texture_size = job.max_texture_size
        started = time.perf_counter()
        steps = converter.steps(upload)
        try:
            while not job.cancelled:
                job.wants_turn = True
                while not job.turn.wait(0.05):
                    if self._stopped:
                        job.cancel()
                job.wants_turn = False
                if job.cancelled:
                    break
                try:
                    if next(steps, _END) is _END:
                        break
                finally:
                    GL.glFinish()  # the step ends when the driver is done with it
                    job.turn.clear()
                    job.steps += 1
        except Exception as e:
            log.warning("Panorama upload thread failed: %s", e)
            job.error = e
        upload.seconds = time.perf_counter() - started
        keep = job.error is None and not job.cancelled and job._finish()
        if not keep:
            names = [t for t in (upload.texture, upload.cube) if t]
            if names:
                GL.glDeleteTextures(names)
            upload.cube = upload.texture = 0
        job.done.set()
