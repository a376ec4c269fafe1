"""The edit mask as a GL texture for the viewer's overlay: an R8 equirect, updated by rows.

A brush stroke changes a band of rows; only that band is uploaded again (glTexSubImage2D), so painting
on a 8192×4096 mask costs an upload of the stroke's rows, not 32 MB a frame. The texture repeats in
longitude (the shader samples across the 0/360° seam) and has no mipmaps: a derivative-free lookup
(textureLod) avoids the seam's jump in longitude picking a tiny mip level along a line.

Every method except the constructor and ``set``/``mark_rows`` needs the viewer's context current.
"""

from __future__ import annotations

import math

import numpy as np
from OpenGL import GL

from dit360_desktop.ui.viewer.gl_program import ShaderProgram
from dit360_desktop.ui.viewer.mask_tint import MASK_TINT_RGB, MASK_TINT_STRENGTH

# The view shader's texture unit for the mask (the panorama cubemap is on unit 0).
MASK_UNIT = 1
# The overlay is shown from at most this wide a copy (every n-th pixel): 0.18° a texel is finer than any
# brush, and a full 8192-wide texture made each frame of a software rasteriser up to 60 % slower (cache
# misses on a 32 MB texture sampled sparsely), against 5-20 % at this size.
DISPLAY_WIDTH = 2048


class MaskTexture:
    def __init__(self) -> None:
        self._source: np.ndarray | None = None
        self._texture = 0
        self._size: tuple[int, int] = (0, 0)  # of the texture (the source may be reduced to fit)
        self._step = 1
        self._dirty: tuple[int, int] | None = None
        self.uploads = 0  # row-band uploads (tests)
        self.rows_uploaded = 0

    @property
    def active(self) -> bool:
        return self._source is not None

    @property
    def texture(self) -> int:
        return self._texture

    def set(self, mask: np.ndarray | None) -> None:
        """Show ``mask`` (H, W uint8, kept by reference: it is read again on ``mark_rows``), or none."""
        self._source = mask
        self._dirty = (0, mask.shape[0]) if mask is not None else None

    def mark_rows(self, top: int, bottom: int) -> None:
        if self._source is None:
            return
        if self._dirty is None:
            self._dirty = (top, bottom)
        else:
            self._dirty = (min(top, self._dirty[0]), max(bottom, self._dirty[1]))

    def sync(self, max_size: int) -> None:
        """Upload what changed since the last frame."""
        source = self._source
        if source is None:
            return
        height, width = source.shape
        limit = min(max_size, DISPLAY_WIDTH)
        step = max(1, math.ceil(width / limit), math.ceil(height / limit))
        size = (math.ceil(width / step), math.ceil(height / step))
        if size != self._size or not self._texture:
            self._allocate(size)
            self._step = step
            self._dirty = (0, height)
        if self._dirty is None:
            return
        top, bottom = self._dirty
        self._dirty = None
        # Rows of the (possibly reduced) texture that hold source rows top..bottom.
        first, last = top // step, min(size[1], -(-bottom // step))
        if last <= first:
            return
        rows = np.ascontiguousarray(source[first * step : last * step : step, ::step])
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._texture)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        GL.glTexSubImage2D(
            GL.GL_TEXTURE_2D, 0, 0, first, size[0], rows.shape[0], GL.GL_RED, GL.GL_UNSIGNED_BYTE, rows
        )
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        self.uploads += 1
        self.rows_uploaded += rows.shape[0]

    def bind(self, program: ShaderProgram) -> None:
        """Bind the mask and set the MASK variant's uniforms for the next draw."""
        GL.glActiveTexture(GL.GL_TEXTURE0 + MASK_UNIT)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._texture)
        GL.glActiveTexture(GL.GL_TEXTURE0)
        program.set("u_mask", MASK_UNIT)
        program.set("u_mask_tint", (*MASK_TINT_RGB, MASK_TINT_STRENGTH))

    def unbind(self) -> None:
        GL.glActiveTexture(GL.GL_TEXTURE0 + MASK_UNIT)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        GL.glActiveTexture(GL.GL_TEXTURE0)

    def _allocate(self, size: tuple[int, int]) -> None:
        if self._texture:
            GL.glDeleteTextures([self._texture])
        self._texture = int(GL.glGenTextures(1))
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._texture)
        GL.glTexImage2D(
            GL.GL_TEXTURE_2D, 0, GL.GL_R8, size[0], size[1], 0, GL.GL_RED, GL.GL_UNSIGNED_BYTE, None
        )
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_S, GL.GL_REPEAT)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAX_LEVEL, 0)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        self._size = size

    def release(self) -> None:
        """Delete the texture (context current); the source stays and is uploaded again if needed."""
        if self._texture:
            GL.glDeleteTextures([self._texture])
        self._texture = 0
        self._size = (0, 0)
        if self._source is not None:
            self._dirty = (0, self._source.shape[0])
