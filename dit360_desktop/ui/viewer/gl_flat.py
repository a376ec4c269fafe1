"""The panorama as a plain 2D texture, for the flat view: pixel-true at 1:1, mipmapped when smaller.

The cubemap that the other projections sample resamples the equirect: its poles blur the top and bottom
rows and its face edges show. The flat view samples this texture instead (view.frag's PROJECTION 3),
and at 1:1 copies texels (``flat_texel_origin``). It is uploaded the first time the flat view is drawn
after a new panorama, not before: the other modes never pay for it. A panorama wider than the GPU's
texture limit stays on the cubemap path.

Every method except the constructor and ``set`` needs the viewer's context current.
"""

from __future__ import annotations

import logging

import numpy as np
from OpenGL import GL

from dit360_desktop.ui.viewer.gl_program import ShaderProgram

log = logging.getLogger(__name__)

# The view shader's texture unit for the flat source (0 is the cubemap, 1 the edit mask).
FLAT_UNIT = 2


class FlatTexture:
    def __init__(self) -> None:
        self._source: np.ndarray | None = None
        self._texture = 0
        self._size: tuple[int, int] = (0, 0)
        self._dirty = False
        self.uploads = 0  # for the tests

    def set(self, image: np.ndarray | None) -> None:
        """The panorama to show (H, W, 3 uint8, kept by reference); uploaded when first drawn."""
        self._source = image
        self._dirty = image is not None

    @property
    def size(self) -> tuple[int, int]:
        """Width and height of the uploaded texture."""
        return self._size

    def ready(self, max_size: int) -> bool:
        """Upload if needed; False when there is nothing to show or it is too large for a texture."""
        source = self._source
        if source is None:
            return False
        height, width = source.shape[:2]
        if width > max_size or height > max_size:
            if self._dirty:
                log.info("flat view of a %d px wide panorama uses the cubemap (GL limit %d)", width, max_size)
                self._dirty = False
            return False
        if self._dirty or not self._texture:
            self._upload(source)
        return True

    def _upload(self, source: np.ndarray) -> None:
        height, width = source.shape[:2]
        if not self._texture:
            self._texture = int(GL.glGenTextures(1))
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._texture)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        GL.glTexImage2D(
            GL.GL_TEXTURE_2D, 0, GL.GL_RGB8, width, height, 0, GL.GL_RGB, GL.GL_UNSIGNED_BYTE,
            np.ascontiguousarray(source),
        )  # fmt: skip
        GL.glGenerateMipmap(GL.GL_TEXTURE_2D)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_S, GL.GL_REPEAT)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR_MIPMAP_LINEAR)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        self._size = (width, height)
        self._dirty = False
        self.uploads += 1

    def bind(self, program: ShaderProgram, texture: int, exact_origin: tuple[int, int] | None) -> None:
        """Bind ``texture`` (this one, or the live preview's) for PROJECTION 3 and set its uniforms."""
        GL.glActiveTexture(GL.GL_TEXTURE0 + FLAT_UNIT)
        GL.glBindTexture(GL.GL_TEXTURE_2D, texture)
        GL.glActiveTexture(GL.GL_TEXTURE0)
        program.set("u_equirect", FLAT_UNIT)
        program.set("u_exact", exact_origin is not None)
        GL.glUniform2i(program.location("u_texel_origin"), *(exact_origin or (0, 0)))

    @property
    def texture(self) -> int:
        return self._texture

    @staticmethod
    def unbind() -> None:
        GL.glActiveTexture(GL.GL_TEXTURE0 + FLAT_UNIT)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        GL.glActiveTexture(GL.GL_TEXTURE0)

    def release(self) -> None:
        """Delete the texture (context current); the source stays and is uploaded again when drawn."""
        if self._texture:
            GL.glDeleteTextures([self._texture])
        self._texture = 0
        self._size = (0, 0)
        self._dirty = self._source is not None
