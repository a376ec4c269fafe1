"""The app's own icons: small SVGs in ``resources/icons/``, drawn for the dark theme."""

from __future__ import annotations

from functools import cache

from PySide6.QtGui import QIcon

from dit360_desktop import paths


@cache
def icon(name: str) -> QIcon:
    path = paths.resource("icons", f"{name}.svg")
    if not path.is_file():
        raise FileNotFoundError(f"The icon {path} is missing from the installation.")
    return QIcon(str(path))
