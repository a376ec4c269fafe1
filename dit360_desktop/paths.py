"""Where the app keeps its files.

Everything user-owned lives in platformdirs locations, never inside the install folder, so an update
cannot touch it. ``DIT360_HOME`` moves all of it under one folder (tests, portable installs).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "DiT360 Desktop"
APP_SLUG = "dit360-desktop"


def _home_override() -> Path | None:
    value = os.environ.get("DIT360_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    home = _home_override()
    return home / "config" if home else Path(platformdirs.user_config_dir(APP_SLUG, appauthor=False))


def data_dir() -> Path:
    home = _home_override()
    return home / "data" if home else Path(platformdirs.user_data_dir(APP_SLUG, appauthor=False))


def cache_dir() -> Path:
    home = _home_override()
    return home / "cache" if home else Path(platformdirs.user_cache_dir(APP_SLUG, appauthor=False))


def log_dir() -> Path:
    home = _home_override()
    return home / "logs" if home else Path(platformdirs.user_log_dir(APP_SLUG, appauthor=False))


def default_models_dir() -> Path:
    return data_dir() / "models"


def default_library_dir() -> Path:
    home = _home_override()
    if home:
        return home / "library"
    return Path(platformdirs.user_pictures_dir()) / APP_NAME


def resources_dir() -> Path:
    """The bundled ``resources/`` folder, in a checkout and inside a PyInstaller bundle."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def resource(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)
