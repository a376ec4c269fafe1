"""Converting an equirect into a mipmapped cubemap on the GPU, in steps small enough to run between frames.

A mix-in of ``PanoramaRenderer`` (it uses the renderer's framebuffers, vertex array and conversion
program) and of the upload thread's converter (gl_upload_thread.py, its own objects in a shared context);
kept apart so the renderer module stays about what is drawn. The context must be current.

Every face and every mip level is drawn in bands of ``BAND_ROWS`` rows, each flushed on its own. Mesa's
llvmpipe rasterises a batch when it is flushed and lets one batch at a time through (all contexts share its
rasterizer), so a whole 2608 px face (about 110 ms) would hold up the UI thread's next frame as long,
and a banded one only a band's worth (issue 21 item 13).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from OpenGL import GL

from dit360_desktop.ui.common.viewer_errors import ViewerError
from dit360_desktop.ui.viewer.tiling import Tile, plan_tiles, tile_pixels

NO_LIMIT = 1.0e9
# Rows of a face (or mip level) drawn in one batch: about 5 ms for a 2608 px face on idle llvmpipe.
BAND_ROWS = 128


def bands(size: int, rows: int = BAND_ROWS) -> list[tuple[int, int]]:
    """Row ranges [y0, y1) covering 0..size, none taller than ``rows``."""
    return [(y, min(size, y + rows)) for y in range(0, size, rows)]


@dataclass
class Upload:
    """One panorama's conversion into ``cube``, as steps small enough to run between frames."""

    source: np.ndarray
    cube: int
    face: int
    steps: Iterator[None] = field(default_factory=lambda: iter(()))
    texture: int = 0  # the source tile texture that lives between steps
    fence: object = None  # a GL sync object while waiting for queued work
    tiles: int = 0
    bands: int = 0  # face bands drawn (tests count them)
    seconds: float = 0.0


class CubemapConversion:
    """The conversion steps; see PanoramaRenderer for the objects they use. Each user gives the program
    through ``_conversion_program()`` (the renderer compiles its own on first use)."""

    def _check_framebuffer(self, what: str) -> None:
        status = GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER)
        if status != GL.GL_FRAMEBUFFER_COMPLETE:
            raise ViewerError(
                f"The graphics driver refused the {what} framebuffer (status {int(status):#x})."
            )

    def _new_cubemap(self, face: int) -> int:
        cube = int(GL.glGenTextures(1))
        GL.glBindTexture(GL.GL_TEXTURE_CUBE_MAP, cube)
        # Every mip level is allocated now: glGenerateMipmap on a texture without them allocates them
        # itself, which made it ~3x slower on llvmpipe (35 against 12 ms for 652 px faces).
        level, size = 0, face
        while size >= 1:
            for i in range(6):
                GL.glTexImage2D(
                    GL.GL_TEXTURE_CUBE_MAP_POSITIVE_X + i, level, GL.GL_RGBA8, size, size, 0,
                    GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, None,
                )  # fmt: skip
            level, size = level + 1, size // 2
        for wrap in (GL.GL_TEXTURE_WRAP_S, GL.GL_TEXTURE_WRAP_T, GL.GL_TEXTURE_WRAP_R):
            GL.glTexParameteri(GL.GL_TEXTURE_CUBE_MAP, wrap, GL.GL_CLAMP_TO_EDGE)
        GL.glTexParameteri(GL.GL_TEXTURE_CUBE_MAP, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR_MIPMAP_LINEAR)
        GL.glTexParameteri(GL.GL_TEXTURE_CUBE_MAP, GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR)
        # No anisotropic filtering: looking out from the sphere's centre the footprint is nearly round,
        # and Mesa's llvmpipe samples wrong texels at face edges with anisotropy on a cubemap.
        return cube

    def _source_texture(self, pixels: np.ndarray, *, wraps: bool, mipmaps: bool) -> int:
        height, width = pixels.shape[:2]
        texture = int(GL.glGenTextures(1))
        GL.glBindTexture(GL.GL_TEXTURE_2D, texture)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        GL.glTexImage2D(
            GL.GL_TEXTURE_2D, 0, GL.GL_RGB8, width, height, 0, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, pixels
        )
        self._configure_source(wraps=wraps, mipmaps=mipmaps)
        return texture

    def _configure_source(self, *, wraps: bool, mipmaps: bool) -> None:
        wrap_s = GL.GL_REPEAT if wraps else GL.GL_CLAMP_TO_EDGE
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_S, wrap_s)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR)
        if mipmaps:
            GL.glGenerateMipmap(GL.GL_TEXTURE_2D)
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR_MIPMAP_LINEAR)
        else:
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR)

    def _conversion_steps(self, upload: Upload) -> Iterator[None]:
        """Convert ``upload.source`` into ``upload.cube``, yielding between the pieces of work. Every
        step binds what it uses, since frames may be drawn in between."""
        image = upload.source
        height, width = image.shape[:2]
        if not upload.cube:
            upload.cube = self._new_cubemap(upload.face)
            yield
        tiles = plan_tiles(width, height, self.max_texture_size)
        upload.tiles = len(tiles)
        last_column = max(t.x1 for t in tiles)
        last_row = max(t.y1 for t in tiles)
        # Faces of width/π texels sample the panorama at least 1:1 (the conversion shader filters the
        # poles itself), so source mipmaps only matter when the face size had to be capped.
        mipmaps = upload.face < math.ceil(width / math.pi)
        for tile in tiles:
            # One tile texture at a time keeps GPU memory near one tile plus the cubemap.
            upload.texture = self._source_texture(tile_pixels(image, tile), wraps=tile.wraps, mipmaps=mipmaps)
            yield
            rect = _owned_rect(tile, last_column, last_row)
            for face in range(6):
                for band in bands(upload.face):
                    self._convert(
                        upload.texture, tile, rect, (width, height), upload.cube, upload.face, face, band
                    )
                    # Drivers queue draws and run them when something reads the result: without waiting
                    # here, llvmpipe ran all six faces inside the next step (84 ms of the UI thread).
                    yield from self._until_done(upload)
                    upload.bands += 1
                    yield
            GL.glDeleteTextures([upload.texture])
            upload.texture = 0
        yield from self._mipmap_steps(upload)
        yield from self._until_done(upload)  # the first frame with the new cubemap must not wait either

    def _until_done(self, upload: Upload) -> Iterator[None]:
        """Yield until the GL work queued so far has finished, polling a fence without blocking."""
        upload.fence = GL.glFenceSync(GL.GL_SYNC_GPU_COMMANDS_COMPLETE, 0)
        GL.glFlush()
        while GL.glClientWaitSync(upload.fence, 0, 0) == GL.GL_TIMEOUT_EXPIRED:
            yield
        GL.glDeleteSync(upload.fence)
        upload.fence = None

    def _mipmap_steps(self, upload: Upload) -> Iterator[None]:
        """Fill the cubemap's mip chain by halving blits, a band of a face at a time while the levels are
        large, the small levels together. glGenerateMipmap does the same work in one call, which on
        llvmpipe under a busy CPU took 60-110 ms of the UI thread."""
        level, size = 1, upload.face // 2
        small: list[tuple[int, int, int]] = []  # (level, face, size) blitted in one batch
        while size >= 1:
            source = max(1, upload.face >> (level - 1))
            if size > BAND_ROWS and source == 2 * size:
                for face in range(6):
                    for y0, y1 in bands(size):
                        # An exact 2:1 halving reads only the band's own source rows.
                        self._blit_level(
                            upload.cube, face, level, (0, 2 * y0, source, 2 * y1), (0, y0, size, y1)
                        )
                        yield from self._until_done(upload)
                        yield
            else:
                small.extend((level, face, size) for face in range(6))
            level, size = level + 1, size // 2
        for level, face, size in small:
            source = max(1, upload.face >> (level - 1))
            self._blit_level(upload.cube, face, level, (0, 0, source, source), (0, 0, size, size))
        yield from self._until_done(upload)

    def _blit_level(
        self,
        cube: int,
        face: int,
        level: int,
        source: tuple[int, int, int, int],
        target: tuple[int, int, int, int],
    ) -> None:
        """Blit ``source`` of mip level ``level - 1`` into ``target`` of ``level`` (linear filter)."""
        if not self._blit_fbo:
            self._blit_fbo = int(GL.glGenFramebuffers(1))
        colour = GL.GL_COLOR_ATTACHMENT0
        side = GL.GL_TEXTURE_CUBE_MAP_POSITIVE_X + face
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._fbo)
        GL.glFramebufferTexture2D(GL.GL_READ_FRAMEBUFFER, colour, side, cube, level - 1)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, self._blit_fbo)
        GL.glFramebufferTexture2D(GL.GL_DRAW_FRAMEBUFFER, colour, side, cube, level)
        GL.glBlitFramebuffer(*source, *target, GL.GL_COLOR_BUFFER_BIT, GL.GL_LINEAR)
        GL.glFramebufferTexture2D(GL.GL_READ_FRAMEBUFFER, colour, GL.GL_TEXTURE_2D, 0, 0)
        GL.glFramebufferTexture2D(GL.GL_DRAW_FRAMEBUFFER, colour, GL.GL_TEXTURE_2D, 0, 0)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)

    def _convert(
        self,
        texture: int,
        tile: Tile,
        rect: tuple[float, float, float, float],
        image_size: tuple[int, int],
        cube: int,
        face_size: int,
        face: int,
        rows: tuple[int, int] | None = None,
    ) -> None:
        """Draw one equirect tile into one face of ``cube`` (level 0), or only its ``rows`` [y0, y1)."""
        program = self._conversion_program()
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._fbo)
        GL.glViewport(0, 0, face_size, face_size)
        GL.glDisable(GL.GL_BLEND)
        GL.glDisable(GL.GL_DEPTH_TEST)
        if rows is None:
            GL.glDisable(GL.GL_SCISSOR_TEST)
        else:
            GL.glEnable(GL.GL_SCISSOR_TEST)
            GL.glScissor(0, rows[0], face_size, rows[1] - rows[0])
        GL.glUseProgram(program.id)
        GL.glActiveTexture(GL.GL_TEXTURE0)
        GL.glBindTexture(GL.GL_TEXTURE_2D, texture)
        program.set("u_tile", 0)
        program.set("u_face_size", float(face_size))
        program.set("u_image_size", (float(image_size[0]), float(image_size[1])))
        program.set("u_tile_rect", tuple(float(v) for v in rect))
        program.set("u_tile_origin", tuple(float(v) for v in tile.origin))
        program.set("u_tile_size", tuple(float(v) for v in tile.texture_size))
        GL.glBindVertexArray(self._vao)
        GL.glFramebufferTexture2D(
            GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_CUBE_MAP_POSITIVE_X + face, cube, 0
        )
        self._check_framebuffer("cubemap")
        program.set("u_face", face)
        GL.glDrawArrays(GL.GL_TRIANGLES, 0, 3)
        GL.glDisable(GL.GL_SCISSOR_TEST)
        GL.glBindVertexArray(0)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, 0, 0)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        GL.glUseProgram(0)


def _owned_rect(tile: Tile, last_column: int, last_row: int) -> tuple[float, float, float, float]:
    """The pixel range a tile paints; outer edges are open so lon = ±180° and the poles are covered."""
    x0 = -NO_LIMIT if tile.x0 == 0 else float(tile.x0)
    y0 = -NO_LIMIT if tile.y0 == 0 else float(tile.y0)
    x1 = NO_LIMIT if tile.x1 == last_column else float(tile.x1)
    y1 = NO_LIMIT if tile.y1 == last_row else float(tile.y1)
    return x0, y0, x1, y1
