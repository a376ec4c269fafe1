"""The parallax preview in the viewer: the panorama's displaced mesh drawn by OpenGL from a moved eye.

The mesh is the GLB writer's own (``panorama/mesh3d.build_mesh``: the sphere grid displaced by the
distance, seam vertices shared, pole fans, triangles across depth discontinuities cut), so what the
preview shows is what an export writes. Its positions are in the export frame (glTF: yaw 0 looks down
−Z, ``panorama/space3d.py``); the viewer's camera looks down +Z at yaw 0, so Z is flipped once here.

What no triangle covers is a hole and is drawn in ``HOLE_COLOUR``: the mesh is closed except where an
edge was cut, so the holes are exactly what the centre never saw plus the cut depth edges (at the centre,
a cut edge is a gap one grid cell wide; moving the eye sideways widens it).

The viewer's default framebuffer has no depth buffer (``gl_support.viewer_surface_format``: the sphere
is drawn per pixel and needs none), so the mesh is drawn into a framebuffer of its own with one, then
copied into the view. With ``stereo_ipd`` set, the view is split: the left eye on the left half, the right
eye on the right (side by side, for parallel viewing or a headset's flat mode).

Every method except the ``set_*`` ones needs the viewer's context to be current (the renderer calls
``draw`` and ``release``); GL objects of a replaced mesh are deleted at the next draw.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np
from OpenGL import GL

from dit360_desktop.panorama.mesh3d import Mesh
from dit360_desktop.ui.common.viewer_errors import ViewerError
from dit360_desktop.ui.viewer.gl_program import ShaderProgram, load_shader
from dit360_desktop.ui.viewer.render_settings import PROJECTIONS, DrawSettings, ViewMode

HOLE_COLOUR = (255, 0, 255)
NEAR_M = 0.01


@dataclass(frozen=True)
class MeshData:
    """What the GPU gets: positions in the viewer's frame (metres), UVs, triangles, the texture."""

    positions: np.ndarray  # (n, 3) float32
    uvs: np.ndarray  # (n, 2) float32
    indices: np.ndarray  # (m, 3) uint32
    texture: np.ndarray  # (H, W, 3) uint8

    @property
    def farthest_m(self) -> float:
        return float(np.linalg.norm(self.positions, axis=1).max())


def mesh_data(mesh: Mesh, texture: np.ndarray) -> MeshData:
    """``mesh`` (its positions in the export frame) in the viewer's frame, with its texture."""
    viewer_frame = np.array(mesh.positions, dtype=np.float32, copy=True)
    viewer_frame[:, 2] *= -1.0
    pixels = np.ascontiguousarray(np.asarray(texture)[..., :3], dtype=np.uint8)
    return MeshData(
        viewer_frame,
        np.ascontiguousarray(mesh.uvs, dtype=np.float32),
        np.ascontiguousarray(mesh.indices, dtype=np.uint32),
        pixels,
    )


class MeshLayer:
    """The parallax preview's state (mesh, eye, stereo) and its GL objects; drawn by the renderer in
    place of the sphere while a mesh is set and the view is a perspective one."""

    def __init__(self) -> None:
        self._data: MeshData | None = None
        self._dirty = False
        self.eye = (0.0, 0.0, 0.0)  # metres from the centre, the viewer's frame
        self.stereo_ipd: float | None = None
        self.draws_made = 0
        self._program: ShaderProgram | None = None
        self._garbage: list[tuple[str, int]] = []
        self._reset_handles()

    def _reset_handles(self) -> None:
        self._vao = self._vbo = self._ebo = self._texture = 0
        self._count = 0
        self._fbo = self._colour = self._depth = 0
        self._size = (0, 0)

    # ---- state (any thread's caller on the UI thread; no GL) --------------------------------------------

    @property
    def active(self) -> bool:
        return self._data is not None

    def set_mesh(self, mesh: Mesh | None, texture: np.ndarray | None = None) -> None:
        """Draw ``mesh`` (``panorama.mesh3d.build_mesh``) with ``texture`` (the panorama, RGB) from the next
        frame on; None puts the sphere back."""
        self._forget_buffers()
        data = None if mesh is None or texture is None else mesh_data(mesh, texture)
        self._data = data
        self._dirty = data is not None

    def set_eye(self, eye: tuple[float, float, float]) -> None:
        self.eye = tuple(float(c) for c in eye)

    def set_stereo(self, ipd: float | None) -> None:
        """Side by side with eyes ``ipd`` metres apart (None: one view)."""
        self.stereo_ipd = None if ipd is None else float(ipd)

    def _forget_buffers(self) -> None:
        for kind, handle in (("vao", self._vao), ("buffer", self._vbo), ("buffer", self._ebo)):
            if handle:
                self._garbage.append((kind, handle))
        if self._texture:
            self._garbage.append(("texture", self._texture))
        self._vao = self._vbo = self._ebo = self._texture = 0
        self._count = 0

    # ---- GL (context current) ---------------------------------------------------------------------------

    def draw(self, settings: DrawSettings, width: int, height: int, framebuffer: int) -> bool:
        """Draw the mesh into ``framebuffer`` (width×height); False when the sphere should be drawn."""
        self._collect_garbage()
        if self._data is None or settings.projection != PROJECTIONS[ViewMode.PERSPECTIVE]:
            return False
        if self._dirty:
            self._upload(self._data)
            self._dirty = False
        self._target(width, height)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._fbo)
        GL.glViewport(0, 0, width, height)
        GL.glClearColor(*(c / 255.0 for c in HOLE_COLOUR), 1.0)
        GL.glClearDepth(1.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT | GL.GL_DEPTH_BUFFER_BIT)
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glDepthFunc(GL.GL_LESS)
        GL.glDisable(GL.GL_CULL_FACE)
        GL.glDisable(GL.GL_BLEND)
        GL.glDisable(GL.GL_SCISSOR_TEST)
        program = self._program
        assert program is not None
        GL.glUseProgram(program.id)
        GL.glActiveTexture(GL.GL_TEXTURE0)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._texture)
        program.set("u_panorama", 0)
        program.set("u_right", settings.right)
        program.set("u_up", settings.up)
        program.set("u_forward", settings.forward)
        program.set("u_depth_range", (NEAR_M, max(10.0, 4.0 * self._data.farthest_m)))
        GL.glBindVertexArray(self._vao)
        eye = np.asarray(self.eye, dtype=np.float64)
        if self.stereo_ipd is None:
            self._draw_view(program, settings, eye, (0, 0, width, height))
        else:
            half = width // 2
            offset = 0.5 * self.stereo_ipd * np.asarray(settings.right, dtype=np.float64)
            self._draw_view(program, settings, eye - offset, (0, 0, half, height))
            self._draw_view(program, settings, eye + offset, (half, 0, width - half, height))
        GL.glBindVertexArray(0)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        GL.glUseProgram(0)
        GL.glDisable(GL.GL_DEPTH_TEST)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._fbo)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, framebuffer)
        GL.glBlitFramebuffer(
            0, 0, width, height, 0, 0, width, height, GL.GL_COLOR_BUFFER_BIT, GL.GL_NEAREST
        )  # fmt: skip
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, framebuffer)
        GL.glViewport(0, 0, width, height)
        self.draws_made += 1
        return True

    def _draw_view(
        self, program: ShaderProgram, settings: DrawSettings, eye: np.ndarray, rect: tuple[int, int, int, int]
    ) -> None:
        x, y, width, height = rect
        GL.glViewport(x, y, width, height)
        program.set("u_eye", tuple(float(c) for c in eye))
        half = float(settings.half_extent)
        program.set("u_scale", (1.0 / half, (width / max(height, 1)) / half))
        GL.glDrawElements(GL.GL_TRIANGLES, self._count, GL.GL_UNSIGNED_INT, ctypes.c_void_p(0))

    def _upload(self, data: MeshData) -> None:
        if self._program is None:
            self._program = ShaderProgram(load_shader("mesh.vert"), load_shader("mesh.frag"), "parallax mesh")
        limit = int(GL.glGetIntegerv(GL.GL_MAX_TEXTURE_SIZE))
        texture = data.texture
        if texture.shape[1] > limit:
            raise ViewerError(
                f"The parallax preview's texture is {texture.shape[1]} pixels wide; this driver takes "
                f"at most {limit}."
            )
        self._vao = int(GL.glGenVertexArrays(1))
        self._vbo, self._ebo = (int(b) for b in GL.glGenBuffers(2))
        GL.glBindVertexArray(self._vao)
        interleaved = np.ascontiguousarray(np.concatenate([data.positions, data.uvs], axis=1), np.float32)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self._vbo)
        GL.glBufferData(GL.GL_ARRAY_BUFFER, interleaved.nbytes, interleaved, GL.GL_STATIC_DRAW)
        stride = 5 * 4
        GL.glEnableVertexAttribArray(0)
        GL.glVertexAttribPointer(0, 3, GL.GL_FLOAT, GL.GL_FALSE, stride, ctypes.c_void_p(0))
        GL.glEnableVertexAttribArray(1)
        GL.glVertexAttribPointer(1, 2, GL.GL_FLOAT, GL.GL_FALSE, stride, ctypes.c_void_p(12))
        GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, self._ebo)
        GL.glBufferData(GL.GL_ELEMENT_ARRAY_BUFFER, data.indices.nbytes, data.indices, GL.GL_STATIC_DRAW)
        GL.glBindVertexArray(0)
        self._count = int(data.indices.size)
        self._texture = int(GL.glGenTextures(1))
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._texture)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        height, width = texture.shape[:2]
        GL.glTexImage2D(
            GL.GL_TEXTURE_2D, 0, GL.GL_RGB8, width, height, 0, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, texture
        )
        GL.glGenerateMipmap(GL.GL_TEXTURE_2D)
        # Repeat in u: the seam column's u = 1 samples both image edges; clamp in v at the poles (as the GLB).
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_S, GL.GL_REPEAT)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR_MIPMAP_LINEAR)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)

    def _target(self, width: int, height: int) -> None:
        if (width, height) == self._size and self._fbo:
            return
        self._delete_target()
        self._colour = int(GL.glGenTextures(1))
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._colour)
        GL.glTexImage2D(
            GL.GL_TEXTURE_2D, 0, GL.GL_RGBA8, width, height, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, None
        )
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        self._depth = int(GL.glGenRenderbuffers(1))
        GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, self._depth)
        GL.glRenderbufferStorage(GL.GL_RENDERBUFFER, GL.GL_DEPTH_COMPONENT24, width, height)
        GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, 0)
        self._fbo = int(GL.glGenFramebuffers(1))
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._fbo)
        GL.glFramebufferTexture2D(
            GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, self._colour, 0
        )
        GL.glFramebufferRenderbuffer(
            GL.GL_FRAMEBUFFER, GL.GL_DEPTH_ATTACHMENT, GL.GL_RENDERBUFFER, self._depth
        )
        status = GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER)
        if status != GL.GL_FRAMEBUFFER_COMPLETE:
            raise ViewerError(
                f"The graphics driver refused the parallax preview's framebuffer (status {int(status):#x})."
            )
        self._size = (width, height)

    def _delete_target(self) -> None:
        if self._fbo:
            GL.glDeleteFramebuffers(1, [self._fbo])
        if self._colour:
            GL.glDeleteTextures([self._colour])
        if self._depth:
            GL.glDeleteRenderbuffers(1, [self._depth])
        self._fbo = self._colour = self._depth = 0
        self._size = (0, 0)

    def _collect_garbage(self) -> None:
        for kind, handle in self._garbage:
            if kind == "vao":
                GL.glDeleteVertexArrays(1, [handle])
            elif kind == "buffer":
                GL.glDeleteBuffers(1, [handle])
            else:
                GL.glDeleteTextures([handle])
        self._garbage = []

    def release(self) -> None:
        """Delete every GL object (the context is going away); the mesh is uploaded again if drawn."""
        self._forget_buffers()
        self._collect_garbage()
        self._delete_target()
        if self._program is not None:
            self._program.delete()
            self._program = None
        self._dirty = self._data is not None
