"""The OpenGL half of the viewer: shaders, panorama and preview cubemaps, drawing and readback.

Every method except the constructor and the ``set_*`` calls needs the widget's OpenGL 3.3 core
context to be current. The equirect is converted once, on the GPU, into a mipmapped cubemap that
is sampled with GL_TEXTURE_CUBE_MAP_SEAMLESS, so there is no pole pinching and no seam line.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from OpenGL import GL

from dit360_desktop.ui.common.viewer_errors import ViewerError
from dit360_desktop.ui.viewer.gl_cubemap import NO_LIMIT, CubemapConversion, Upload
from dit360_desktop.ui.viewer.gl_entry_points import resolve_viewer_gl_functions
from dit360_desktop.ui.viewer.gl_flat import FlatTexture
from dit360_desktop.ui.viewer.gl_mask import MaskTexture
from dit360_desktop.ui.viewer.gl_program import ShaderProgram, gl_text, load_shader
from dit360_desktop.ui.viewer.render_settings import (
    BACKGROUND,
    FLAT_SOURCE_PROJECTION,
    PROJECTIONS,
    DrawSettings,
    ViewMode,
    cube_face_size,
    flat_texel_origin,
)
from dit360_desktop.ui.viewer.tiling import Tile

log = logging.getLogger(__name__)

# Staged uploads convert into a second cubemap while the first is still shown; above this face size
# (panoramas wider than ~12900 px) the extra memory is not worth it and the upload runs in one go.
STAGED_FACE_LIMIT = 4096
_DONE = object()


@dataclass
class RendererStats:
    """Counters the tests use to check that uploads happen when, and only when, they should."""

    panorama_uploads: int = 0
    tiles_uploaded: int = 0
    preview_allocations: int = 0
    preview_uploads: int = 0
    face_size: int = 0
    last_upload_s: float = 0.0
    releases: int = 0
    staged_steps: int = 0
    thread_uploads: int = 0
    last_draw_scale: float = 1.0


class PanoramaRenderer(CubemapConversion):
    """Owns every GL object of one viewer; created in initializeGL, released before the context dies."""

    # Tests lower this to exercise the tiled upload path on GPUs with a large GL_MAX_TEXTURE_SIZE.
    texture_size_limit: int | None = None
    # Staged uploads run on gl_upload_thread's thread where the platform shares textures between contexts;
    # tests switch it off to exercise the UI thread's steps.
    upload_thread_enabled = True

    def __init__(self) -> None:
        self.stats = RendererStats()
        self.renderer_name = ""
        self.gl_version = ""
        self._initialized = False
        self._panorama_source: np.ndarray | None = None
        self._panorama_dirty = False
        self._preview_source: np.ndarray | None = None
        self._preview_dirty = False
        self._showing_preview = False
        # The edit mask's overlay (editing mode): ``mask.set(array)``, then ``mask.mark_rows`` per stroke.
        self.mask = MaskTexture()
        self.flat = FlatTexture()  # the flat view's source, uploaded when first drawn
        # The parallax preview (gl_mesh.MeshLayer), drawn in place of the sphere while it holds a mesh.
        self.mesh = None
        self._reset_handles()

    def _reset_handles(self) -> None:
        self._view_programs: dict[tuple[int, bool, bool], ShaderProgram] = {}
        self._convert_shader: ShaderProgram | None = None
        self._vao = 0
        self._fbo = 0
        self._panorama_cube = 0
        self._panorama_face = 0
        self._preview_texture = 0
        self._preview_size: tuple[int, int] = (0, 0)
        self._preview_cube = 0
        self._preview_face = 0
        self._low_fbo = 0
        self._low_texture = 0
        self._low_size: tuple[int, int] = (0, 0)
        self._max_texture = 0
        self._max_cube = 0
        self._staged: Upload | None = None
        self._staged_job = None  # gl_upload_thread.UploadJob of the staged upload, when the thread runs it
        self._uploader = None  # gl_upload_thread.UploadThread
        self._uploader_made = False  # made with the first staged upload (_make_uploader)
        self._garbage: list[int] = []  # textures to delete once the context is current
        self._garbage_syncs: list[object] = []
        self._blit_fbo = 0

    @property
    def initialized(self) -> bool:
        return self._initialized

    @property
    def has_image(self) -> bool:
        return self._panorama_source is not None or self._showing_preview or self._staged is not None

    @property
    def upload_on_thread(self) -> bool:
        """True while a staged upload runs on the upload thread: frames are drawn between its steps only
        (gl_upload_thread.UploadJob.turn), and ``give_upload_turn`` lets it take the next one."""
        return self._staged_job is not None

    @property
    def upload_step_running(self) -> bool:
        return self._staged_job is not None and self._staged_job.turn.is_set()

    def give_upload_turn(self) -> bool:
        """Let the upload thread run its next step (call only while no frame is pending); False when it
        is not waiting for one."""
        job = self._staged_job
        if job is None or not job.wants_turn:
            return False
        job.turn.set()
        return True

    @property
    def staging(self) -> bool:
        """True while a staged panorama upload has steps left."""
        return self._staged is not None

    @property
    def max_texture_size(self) -> int:
        limit = self.texture_size_limit
        return min(self._max_texture, limit) if limit else self._max_texture

    def initialize(self) -> None:
        """Create the objects that live as long as the context; the shaders are read, and compiled by
        ``compile_programs`` (or by the first frame that needs one)."""
        self.renderer_name = gl_text(GL.glGetString(GL.GL_RENDERER) or b"")
        self.gl_version = gl_text(GL.glGetString(GL.GL_VERSION) or b"")
        # Before the upload thread exists and before any frame: no later GL call waits on the loader.
        resolve_viewer_gl_functions()
        self._vertex_source = load_shader("fullscreen.vert")
        self._view_source = load_shader("view.frag")
        self._convert_source = load_shader("equirect_to_cube.frag")
        self._vao = int(GL.glGenVertexArrays(1))
        self._fbo = int(GL.glGenFramebuffers(1))
        self._max_texture = int(GL.glGetIntegerv(GL.GL_MAX_TEXTURE_SIZE))
        self._max_cube = int(GL.glGetIntegerv(GL.GL_MAX_CUBE_MAP_TEXTURE_SIZE))
        GL.glEnable(GL.GL_TEXTURE_CUBE_MAP_SEAMLESS)
        # The upload thread is made with the first staged upload: its surface and thread cost 12-15 ms that
        # the viewer's first frame, right after this set-up, does not need (issue 21 item 12).
        self._uploader_made = False
        self._initialized = True
        # Sources survive a context loss (e.g. reparenting for fullscreen): upload them again.
        self._panorama_dirty = self._panorama_source is not None
        self._preview_dirty = self._preview_source is not None
        log.info(
            "viewer OpenGL: %s, %s, max texture %d", self.renderer_name, self.gl_version, self._max_texture
        )

    def release(self) -> None:
        """Delete every GL object; the context must be current."""
        if not self._initialized:
            return
        if self._staged is not None:
            # Its picture is the one asked for last: the next context uploads it in one go.
            self._panorama_source = self._staged.source
            self._showing_preview = False
            self._drop_staged()
        if self._uploader is not None:
            self._uploader.stop()  # before its context loses the one it shares with
            self._uploader = None
        self._collect_garbage()
        self._delete_programs()
        textures = [
            t
            for t in (self._panorama_cube, self._preview_texture, self._preview_cube, self._low_texture)
            if t
        ]
        if textures:
            GL.glDeleteTextures(textures)
        GL.glDeleteFramebuffers(1, [self._fbo])
        if self._blit_fbo:
            GL.glDeleteFramebuffers(1, [self._blit_fbo])
        if self._low_fbo:
            GL.glDeleteFramebuffers(1, [self._low_fbo])
        GL.glDeleteVertexArrays(1, [self._vao])
        self.mask.release()
        self.flat.release()
        if self.mesh is not None:
            self.mesh.release()
        self._reset_handles()
        self._initialized = False
        self.stats.releases += 1

    def set_panorama(self, image: np.ndarray) -> None:
        self._drop_staged()
        self._panorama_source = image
        self.flat.set(image)
        self._panorama_dirty = True
        self._showing_preview = False
        self._preview_dirty = False

    def set_preview(self, image: np.ndarray) -> None:
        self._drop_staged()
        self._preview_source = image
        self._preview_dirty = True
        self._showing_preview = True

    def stage_panorama(self, image: np.ndarray) -> bool:
        """Start converting ``image`` into a cubemap of its own, one step per ``advance_staged`` call;
        frames keep showing the current picture until the last step swaps the new one in.

        On a software rasteriser a 2048×1024 upload is ~100 ms in one go, which would stall the UI
        thread; in steps each is a tile upload, one face, or the mipmaps. Returns False when the
        upload must go the synchronous way (``set_panorama``). The context must be current.
        """
        if not self._initialized:
            return False
        face = cube_face_size(image.shape[1], min(self._max_cube, self.max_texture_size))
        if face > STAGED_FACE_LIMIT:
            return False
        self._drop_staged()
        self._collect_garbage()
        upload = Upload(image, 0, face)  # the cubemap is made by the first step
        self._make_uploader()
        if self._uploader is not None and self._uploader.alive:
            self._staged_job = self._uploader.submit(upload, self.max_texture_size)
        else:
            upload.steps = self._conversion_steps(upload)
        self._staged = upload
        return True

    def compile_programs(self) -> None:
        """Compile the view program of the default mode and the cube-map conversion, so that a broken
        driver or shader fails at start-up, not on the first mode switch. The viewer calls it a frame after
        ``initialize``: on llvmpipe the compile is 10-18 ms that the set-up's turn, with the context's
        creation, does not need (issue 21 item 12). The context must be current."""
        try:
            self._view_program(0, overlays=False)
            self._conversion_program()
        except Exception:
            # Programs that did link are freed with the failed set-up, not left in the context.
            self._delete_programs()
            raise

    def _delete_programs(self) -> None:
        for program in [*self._view_programs.values(), self._convert_shader]:
            if program is not None:
                program.delete()
        self._view_programs.clear()
        self._convert_shader = None

    def _conversion_program(self) -> ShaderProgram:
        if self._convert_shader is None:
            source = self._convert_source
            self._convert_shader = ShaderProgram(self._vertex_source, source, "cubemap conversion")
        return self._convert_shader

    def _make_uploader(self) -> None:
        """The upload thread, once per context (the context must be current); None where the platform
        has no threaded OpenGL (the UI thread then converts in steps)."""
        if self._uploader_made or not self.upload_thread_enabled:
            return
        from dit360_desktop.ui.viewer.gl_upload_thread import UploadThread

        self._uploader_made = True
        self._uploader = UploadThread.for_current_context(self._vertex_source, self._convert_source)

    def advance_staged(self) -> bool:
        """Run one step of the staged upload; True once it is swapped in (or when none is staged).
        The context must be current."""
        self._collect_garbage()
        upload = self._staged
        if upload is None:
            return True
        job = self._staged_job
        if job is not None:
            # On the upload thread: nothing to do here but notice that it is done.
            if not job.done.is_set():
                return False
            self._staged_job = None
            if not job.finished:
                log.warning("Panorama upload thread failed (%s); converting on the UI thread", job.error)
                upload.cube = upload.texture = 0
                upload.steps = self._conversion_steps(upload)
                return False
            self.stats.thread_uploads += 1
            self.stats.staged_steps += job.steps  # each in a turn of its own between frames
        else:
            started = time.perf_counter()
            finished = next(upload.steps, _DONE) is _DONE
            upload.seconds += time.perf_counter() - started
            self.stats.staged_steps += 1
            if not finished:
                return False
        self._staged = None
        if self._panorama_cube:
            GL.glDeleteTextures([self._panorama_cube])
        self._panorama_cube, self._panorama_face = upload.cube, upload.face
        self._panorama_source = upload.source
        self.flat.set(upload.source)
        self._panorama_dirty = False
        self._showing_preview = False
        self._preview_dirty = False
        self._record_upload(upload)
        return True

    def finish_staged(self) -> None:
        """Complete a staged upload now (snapshots and grabs show the latest picture)."""
        while not self.advance_staged():
            if self._staged_job is not None:
                self.give_upload_turn()
                self._staged_job.done.wait(0.001)

    def _drop_staged(self) -> None:
        # Called without a current context too (set_*): the GL objects are deleted later.
        upload, self._staged = self._staged, None
        job, self._staged_job = self._staged_job, None
        if job is not None:
            # The thread deletes what it made, unless it had already finished: then the cube is ours.
            self._garbage.extend(t for t in (job.cancel(),) if t)
        elif upload is not None:
            self._garbage.extend(t for t in (upload.texture, upload.cube) if t)
            if upload.fence is not None:
                self._garbage_syncs.append(upload.fence)

    def _collect_garbage(self) -> None:
        if self._garbage:
            GL.glDeleteTextures(self._garbage)
            self._garbage = []
        for sync in self._garbage_syncs:
            GL.glDeleteSync(sync)
        self._garbage_syncs = []

    def sync(self, framebuffer: int) -> None:
        """Apply pending uploads; at most one of each per frame however often set_* was called."""
        self._collect_garbage()
        if self._panorama_dirty and self._panorama_source is not None:
            self._upload_panorama(self._panorama_source)
            self._panorama_dirty = False
        if self._preview_dirty and self._preview_source is not None and self._showing_preview:
            self._upload_preview(self._preview_source)
            self._preview_dirty = False
        self.mask.sync(self.max_texture_size)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, framebuffer)

    def _view_program(self, projection: int, *, overlays: bool, mask: bool = False) -> ShaderProgram:
        key = (projection, overlays, mask)
        if key not in self._view_programs:
            defines = f"#define PROJECTION {projection}\n#define OVERLAYS {int(overlays)}\n"
            defines += f"#define MASK {int(mask)}\n"
            self._view_programs[key] = ShaderProgram(self._vertex_source, self._view_source, "view", defines)
        return self._view_programs[key]

    @property
    def software(self) -> bool:
        """True on CPU rasterisers (Mesa llvmpipe/softpipe, swrast), where every pixel is expensive."""
        name = self.renderer_name.lower()
        return any(word in name for word in ("llvmpipe", "softpipe", "swrast", "software"))

    def draw(
        self, settings: DrawSettings, width: int, height: int, framebuffer: int, *, scale: float = 1.0
    ) -> None:
        """Render one frame into ``framebuffer``; ``scale`` < 1 renders fewer pixels and stretches them."""
        self.stats.last_draw_scale = min(scale, 1.0)
        if scale >= 1.0:
            self._draw(settings, width, height, framebuffer)
            return
        low_width, low_height = max(1, round(width * scale)), max(1, round(height * scale))
        target = self._low_resolution_target(low_width, low_height)
        self._draw(settings, low_width, low_height, target)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, target)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, framebuffer)
        GL.glBlitFramebuffer(
            0, 0, low_width, low_height, 0, 0, width, height, GL.GL_COLOR_BUFFER_BIT, GL.GL_LINEAR
        )  # fmt: skip
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, framebuffer)

    def _low_resolution_target(self, width: int, height: int) -> int:
        if (width, height) != self._low_size:
            if self._low_texture:
                GL.glDeleteTextures([self._low_texture])
            self._low_texture = int(GL.glGenTextures(1))
            GL.glBindTexture(GL.GL_TEXTURE_2D, self._low_texture)
            GL.glTexImage2D(
                GL.GL_TEXTURE_2D, 0, GL.GL_RGBA8, width, height, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, None
            )
            GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
            if not self._low_fbo:
                self._low_fbo = int(GL.glGenFramebuffers(1))
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._low_fbo)
            GL.glFramebufferTexture2D(
                GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, self._low_texture, 0
            )
            self._check_framebuffer("interactive")
            self._low_size = (width, height)
        return self._low_fbo

    def _draw(
        self, settings: DrawSettings, width: int, height: int, framebuffer: int, mask: bool = True
    ) -> None:
        self.sync(framebuffer)
        GL.glViewport(0, 0, width, height)
        if self.mesh is not None and self.mesh.draw(settings, width, height, framebuffer):
            return
        cube = self._preview_cube if self._showing_preview else self._panorama_cube
        if not cube:
            GL.glClearColor(*BACKGROUND, 1.0)
            GL.glClear(GL.GL_COLOR_BUFFER_BIT)
            return
        mask = mask and self.mask.active and bool(self.mask.texture)
        projection, flat_texture, exact = settings.projection, 0, None
        if projection == PROJECTIONS[ViewMode.FLAT]:
            flat_texture, size = self._flat_source()
            if flat_texture:
                projection, exact = FLAT_SOURCE_PROJECTION, flat_texel_origin(settings, width, height, size)
        program = self._view_program(projection, overlays=settings.grid or settings.seam, mask=mask)
        GL.glDisable(GL.GL_DEPTH_TEST)
        GL.glDisable(GL.GL_BLEND)
        GL.glDisable(GL.GL_CULL_FACE)
        GL.glDisable(GL.GL_SCISSOR_TEST)
        GL.glEnable(GL.GL_TEXTURE_CUBE_MAP_SEAMLESS)
        GL.glUseProgram(program.id)
        GL.glActiveTexture(GL.GL_TEXTURE0)
        GL.glBindTexture(GL.GL_TEXTURE_CUBE_MAP, cube)
        program.set("u_environment", 0)
        program.set("u_viewport", (float(width), float(height)))
        program.set("u_right", settings.right)
        program.set("u_up", settings.up)
        program.set("u_forward", settings.forward)
        program.set("u_half_extent", float(settings.half_extent))
        program.set("u_flat_centre", settings.flat_centre)
        program.set("u_grid", settings.grid)
        program.set("u_seam", settings.seam)
        program.set("u_background", BACKGROUND)
        if mask:
            self.mask.bind(program)
        if flat_texture:
            self.flat.bind(program, flat_texture, exact)
        GL.glBindVertexArray(self._vao)
        GL.glDrawArrays(GL.GL_TRIANGLES, 0, 3)
        GL.glBindVertexArray(0)
        if mask:
            self.mask.unbind()
        if flat_texture:
            self.flat.unbind()
        GL.glBindTexture(GL.GL_TEXTURE_CUBE_MAP, 0)
        GL.glUseProgram(0)

    def _flat_source(self) -> tuple[int, tuple[int, int]]:
        """The 2D texture the flat view samples and its size; 0 where it must use the cubemap."""
        if self._showing_preview:
            return self._preview_texture, self._preview_size
        if self.flat.ready(self.max_texture_size):
            return self.flat.texture, self.flat.size
        return 0, (0, 0)

    def render_offscreen(
        self, settings: DrawSettings, width: int, height: int, restore: int, *, mask: bool = False
    ) -> np.ndarray:
        """Draw into a temporary width×height framebuffer and read it back as (H, W, 3) uint8; ``mask``
        includes the edit mask's tint (exports leave it out)."""
        self.finish_staged()
        limit = min(self._max_texture, int(GL.glGetIntegerv(GL.GL_MAX_RENDERBUFFER_SIZE)))
        if not (0 < width <= limit and 0 < height <= limit):
            raise ViewerError(
                f"Snapshots can be 1 to {limit} pixels on each side; {width}×{height} was asked."
            )
        target = int(GL.glGenTextures(1))
        framebuffer = int(GL.glGenFramebuffers(1))
        try:
            GL.glBindTexture(GL.GL_TEXTURE_2D, target)
            GL.glTexImage2D(
                GL.GL_TEXTURE_2D, 0, GL.GL_RGBA8, width, height, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, None
            )
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, framebuffer)
            GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, target, 0)
            self._check_framebuffer("snapshot")
            self._draw(settings, width, height, framebuffer, mask=mask)
            GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
            data = GL.glReadPixels(0, 0, width, height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
            pixels = np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)
            # OpenGL rows start at the bottom; images start at the top.
            return np.ascontiguousarray(pixels[::-1])
        finally:
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, restore)
            GL.glDeleteFramebuffers(1, [framebuffer])
            GL.glDeleteTextures([target])

    def read_panorama_faces(self) -> dict[str, np.ndarray]:
        """The panorama cubemap's level-0 faces (px, nx, py, ny, pz, nz), row 0 first; for diagnostics."""
        if not self._panorama_cube:
            raise ViewerError("No panorama has been uploaded yet.")
        size = self._panorama_face
        GL.glBindTexture(GL.GL_TEXTURE_CUBE_MAP, self._panorama_cube)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        faces = {}
        for i, name in enumerate(("px", "nx", "py", "ny", "pz", "nz")):
            data = GL.glGetTexImage(GL.GL_TEXTURE_CUBE_MAP_POSITIVE_X + i, 0, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
            faces[name] = np.frombuffer(data, dtype=np.uint8).reshape(size, size, 3).copy()
        GL.glBindTexture(GL.GL_TEXTURE_CUBE_MAP, 0)
        return faces

    def _upload_panorama(self, image: np.ndarray) -> None:
        face = cube_face_size(image.shape[1], min(self._max_cube, self.max_texture_size))
        if face != self._panorama_face and self._panorama_cube:
            GL.glDeleteTextures([self._panorama_cube])
            self._panorama_cube = 0
        if not self._panorama_cube:
            self._panorama_cube = self._new_cubemap(face)
            self._panorama_face = face
        upload = Upload(image, self._panorama_cube, face)
        started = time.perf_counter()
        for _step in self._conversion_steps(upload):
            pass
        upload.seconds = time.perf_counter() - started
        self._record_upload(upload)

    def _record_upload(self, upload: Upload) -> None:
        self.stats.panorama_uploads += 1
        self.stats.tiles_uploaded += upload.tiles
        self.stats.face_size = upload.face
        self.stats.last_upload_s = upload.seconds
        height, width = upload.source.shape[:2]
        log.info(
            "panorama %d×%d uploaded in %d tile(s) to %dpx cube faces in %.0f ms",
            width, height, upload.tiles, upload.face, 1000 * upload.seconds,
        )  # fmt: skip

    def _upload_preview(self, image: np.ndarray) -> None:
        height, width = image.shape[:2]
        if (width, height) != self._preview_size:
            # Only a new preview size allocates; every denoising step after that reuses the textures.
            textures = [t for t in (self._preview_texture, self._preview_cube) if t]
            if textures:
                GL.glDeleteTextures(textures)
            self._preview_texture = self._source_texture(image, wraps=True, mipmaps=False)
            self._preview_face = cube_face_size(width, self._max_cube)
            self._preview_cube = self._new_cubemap(self._preview_face)
            # No mip chain for a live preview: llvmpipe's glGenerateMipmap compiled its shaders at the first
            # preview of a session (120 ms of the UI thread, 300-500 ms under load; issue 21 item 13) and
            # cost 5-30 ms a step after; a preview is seen for a moment, mostly magnified.
            GL.glTexParameteri(GL.GL_TEXTURE_CUBE_MAP, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR)
            GL.glTexParameteri(GL.GL_TEXTURE_CUBE_MAP, GL.GL_TEXTURE_MAX_LEVEL, 0)
            self._preview_size = (width, height)
            self.stats.preview_allocations += 1
        else:
            GL.glBindTexture(GL.GL_TEXTURE_2D, self._preview_texture)
            GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
            GL.glTexSubImage2D(
                GL.GL_TEXTURE_2D, 0, 0, 0, width, height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, image
            )
        whole = Tile(0, 0, width, height, 0, wraps=True)
        rect = (-NO_LIMIT, -NO_LIMIT, NO_LIMIT, NO_LIMIT)
        texture, cube, size = self._preview_texture, self._preview_cube, (width, height)
        for face in range(6):
            self._convert(texture, whole, rect, size, cube, self._preview_face, face)
        self.stats.preview_uploads += 1
