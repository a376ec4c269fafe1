"""Converting an equirect into a mipmapped cubemap on the GPU, in steps small enough to run between frames.

A mix-in of ``PanoramaRenderer`` (it uses the renderer's framebuffers, vertex array and conversion
program); kept apart so the renderer module stays about what is drawn. The context must be current.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from OpenGL import GL

from dit360_desktop.ui.viewer.tiling import Tile, plan_tiles, tile_pixels

NO_LIMIT = 1.0e9


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
    seconds: float = 0.0


class CubemapConversion:
    """The conversion steps; see PanoramaRenderer for the objects they use."""

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
                self._convert(upload.texture, tile, rect, (width, height), upload.cube, upload.face, face)
                yield
            # Drivers queue draws and run them when something reads the result: without waiting here,
            # llvmpipe ran all six faces inside the next step (84 ms of the UI thread).
            yield from self._until_done(upload)
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
        """Fill the cubemap's mip chain by halving blits, the first level on its own and the rest
        together (they are a third of its size). glGenerateMipmap does the same work in one call,
        which on llvmpipe under a busy CPU took 60-110 ms of the UI thread."""
        cube, face = upload.cube, upload.face
        if not self._blit_fbo:
            self._blit_fbo = int(GL.glGenFramebuffers(1))
        colour = GL.GL_COLOR_ATTACHMENT0
        level, size = 1, face // 2
        while size >= 1:
            for i in range(6):
                target = GL.GL_TEXTURE_CUBE_MAP_POSITIVE_X + i
                GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._fbo)
                GL.glFramebufferTexture2D(GL.GL_READ_FRAMEBUFFER, colour, target, cube, level - 1)
                GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, self._blit_fbo)
                GL.glFramebufferTexture2D(GL.GL_DRAW_FRAMEBUFFER, colour, target, cube, level)
                source = max(1, face >> (level - 1))
                GL.glBlitFramebuffer(
                    0, 0, source, source, 0, 0, size, size, GL.GL_COLOR_BUFFER_BIT, GL.GL_LINEAR
                )  # fmt: skip
            GL.glFramebufferTexture2D(GL.GL_READ_FRAMEBUFFER, colour, GL.GL_TEXTURE_2D, 0, 0)
            GL.glFramebufferTexture2D(GL.GL_DRAW_FRAMEBUFFER, colour, GL.GL_TEXTURE_2D, 0, 0)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
            if level == 1:
                yield from self._until_done(upload)
            level, size = level + 1, size // 2

    def _convert(
        self,
        texture: int,
        tile: Tile,
        rect: tuple[float, float, float, float],
        image_size: tuple[int, int],
        cube: int,
        face_size: int,
        face: int,
    ) -> None:
        """Draw one equirect tile into one face of ``cube`` (level 0)."""
        program = self._convert_program
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._fbo)
        GL.glViewport(0, 0, face_size, face_size)
        GL.glDisable(GL.GL_BLEND)
        GL.glDisable(GL.GL_DEPTH_TEST)
        GL.glDisable(GL.GL_SCISSOR_TEST)
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
