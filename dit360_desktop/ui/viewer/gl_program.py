"""Shader programs for the viewer: compile, link, set uniforms, with errors a user can act on."""

from __future__ import annotations

from OpenGL import GL

from dit360_desktop.paths import resource
from dit360_desktop.ui.common.viewer_errors import OpenGLUnavailableError


class ShaderProgram:
    def __init__(self, vertex_source: str, fragment_source: str, name: str, defines: str = "") -> None:
        if defines:
            # Defines must follow the #version line, which has to stay first.
            version, _, rest = fragment_source.partition("\n")
            fragment_source = f"{version}\n{defines}{rest}"
        shaders = [
            _compile(GL.GL_VERTEX_SHADER, vertex_source, name),
            _compile(GL.GL_FRAGMENT_SHADER, fragment_source, name),
        ]
        self.id = GL.glCreateProgram()
        for shader in shaders:
            GL.glAttachShader(self.id, shader)
        GL.glLinkProgram(self.id)
        for shader in shaders:
            GL.glDetachShader(self.id, shader)
            GL.glDeleteShader(shader)
        if GL.glGetProgramiv(self.id, GL.GL_LINK_STATUS) != GL.GL_TRUE:
            # An empty log: seen when the context was no longer current (the caller tells).
            message = gl_text(GL.glGetProgramInfoLog(self.id)) or "the driver gave no reason"
            GL.glDeleteProgram(self.id)
            raise OpenGLUnavailableError(f"The viewer's {name} shaders did not link: {message}")
        self._locations: dict[str, int] = {}

    def location(self, name: str) -> int:
        if name not in self._locations:
            self._locations[name] = GL.glGetUniformLocation(self.id, name)
        return self._locations[name]

    def set(self, name: str, value: float | int | bool | tuple) -> None:
        loc = self.location(name)
        if isinstance(value, bool | int):
            GL.glUniform1i(loc, int(value))
        elif isinstance(value, float):
            GL.glUniform1f(loc, value)
        elif len(value) == 2:
            GL.glUniform2f(loc, *value)
        elif len(value) == 3:
            GL.glUniform3f(loc, *value)
        else:
            GL.glUniform4f(loc, *value)

    def delete(self) -> None:
        GL.glDeleteProgram(self.id)


def gl_text(value: bytes | str) -> str:
    return value.decode(errors="replace").strip() if isinstance(value, bytes) else str(value).strip()


def _compile(kind: int, source: str, name: str) -> int:
    shader = GL.glCreateShader(kind)
    GL.glShaderSource(shader, source)
    GL.glCompileShader(shader)
    if GL.glGetShaderiv(shader, GL.GL_COMPILE_STATUS) != GL.GL_TRUE:
        message = gl_text(GL.glGetShaderInfoLog(shader)) or "the driver gave no reason"
        GL.glDeleteShader(shader)
        raise OpenGLUnavailableError(f"The viewer's {name} shader did not compile: {message}")
    return shader


def load_shader(name: str) -> str:
    path = resource("shaders", name)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise OpenGLUnavailableError(
            f"The viewer shader {path} is missing; reinstall the application."
        ) from e
