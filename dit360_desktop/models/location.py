"""Where downloaded and copied models live. Defaults under the user data folder; the user can move it.

The choice is kept in its own small JSON file in the config folder so that the CLI, the app and the
engine agree without loading the app's settings.
"""

from __future__ import annotations

import os
from pathlib import Path

from dit360_desktop import paths
from dit360_desktop.models.fsutil import atomic_write_json, read_json

_SETTINGS_FILE = "model_manager.json"


def _settings_path() -> Path:
    return paths.config_dir() / _SETTINGS_FILE


def configured_models_dir() -> Path:
    data = read_json(_settings_path())
    if isinstance(data, dict) and isinstance(data.get("models_dir"), str):
        return Path(data["models_dir"]).expanduser()
    return paths.default_models_dir()


def set_models_dir(folder: Path | None) -> Path:
    """Remember ``folder`` as the models location (None restores the default). Returns the new location."""
    data = read_json(_settings_path())
    data = data if isinstance(data, dict) else {}
    if folder is None:
        data.pop("models_dir", None)
    else:
        folder = Path(folder).expanduser().resolve()
        folder.mkdir(parents=True, exist_ok=True)
        data["models_dir"] = str(folder)
    atomic_write_json(_settings_path(), data)
    return configured_models_dir()


def resolve_models_dir(models_dir: Path | None) -> Path:
    return Path(models_dir).expanduser() if models_dir is not None else configured_models_dir()


def hf_hub_cache_dir() -> Path:
    """The user's Hugging Face cache, read from the environment at call time as huggingface_hub does."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        value = os.environ.get(name)
        if value:
            return Path(value).expanduser()
    hf_home = os.environ.get("HF_HOME")
    if hf_home:
        return Path(hf_home).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"
