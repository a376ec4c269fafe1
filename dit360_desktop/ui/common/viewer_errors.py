"""Errors raised by the panorama viewer."""

from __future__ import annotations

from dit360_desktop.panorama.errors import DiT360Error


class ViewerError(DiT360Error):
    """The viewer cannot show or export what was asked of it."""


class OpenGLUnavailableError(ViewerError):
    """No usable OpenGL 3.3 core (4.1 core on macOS) context could be created."""
