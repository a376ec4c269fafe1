"""Typed, persistent user settings: one JSON file in the config folder.

Saving is atomic (``panorama.fileio``: temp file, fsync, rename) so a crash mid-write never leaves half a
file. A file that cannot be parsed is moved aside with a timestamp and the defaults are used; the caller
shows the returned notice so the user knows why their settings were reset. No Qt here: the CLI may read
it too.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dit360_desktop import paths
from dit360_desktop.panorama.fileio import write_atomic_json

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.json"
SCHEMA_VERSION = 1


@dataclass
class Settings:
    # Folder holding a diffusers-layout FLUX.1-dev (or None: let the engine resolve it).
    model_dir: str | None = None
    # DiT360 LoRA folder or .safetensors file (None: the one the model manager installed).
    lora_path: str | None = None
    # Where finished panoramas are kept (None: paths.default_library_dir()).
    library_dir: str | None = None
    # A library folder to move into library_dir at the next start, before the library opens (Settings).
    library_move_from: str | None = None
    # Where the model manager stores downloads (None: paths.default_models_dir()).
    models_dir: str | None = None
    # The generation panel's last values, as GenerationRequest field names (prompt, steps, ...).
    last_parameters: dict[str, Any] = field(default_factory=dict)
    prepend_panorama_prefix: bool = True
    seed_locked: bool = False
    variations_count: int = 4
    # QMainWindow.saveGeometry()/saveState() as base64 text; opaque to everything but the window.
    window_geometry: str = ""
    window_state: str = ""
    viewer_mode: str = "perspective"
    show_grid: bool = False
    # Engine build options (Generate → Speed, Models → GGUF transformer): panorama.options.EngineOptions.
    gguf_file: str | None = None
    compile_transformer: bool = False
    fuse_lora: bool = False
    # Show the panorama forming in the viewer while it denoises (Settings → Generation).
    live_preview: bool = True
    # "dark" or "high-contrast" (ui.settings_dialog.THEMES).
    theme: str = "dark"
    # The init image and its fit when the app was closed, opened again at the next start.
    init_image: str | None = None
    init_fit: str = "crop"
    # The last folder each file dialog used, by kind ("init-image", "model-folder", ...).
    last_folders: dict[str, Any] = field(default_factory=dict)
    # The Ray cluster the queue was last sent to (Generate → Send queue to cluster…; docs/cluster.md).
    cluster_address: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["schema"] = SCHEMA_VERSION
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Keep every known key whose value has the right type; unknown or mistyped keys fall back."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            if _same_kind(value, str(f.type)):
                values[f.name] = value
            else:
                log.warning("Ignoring setting %s=%r: expected %s", f.name, value, f.type)
        return cls(**values)


_KINDS: dict[str, tuple[type, ...]] = {
    "str | None": (str, type(None)),
    "str": (str,),
    "bool": (bool,),
    "int": (int,),
    "dict[str, Any]": (dict,),
}


def _same_kind(value: Any, annotation: str) -> bool:
    # bool is a subclass of int in Python; a stored true must not become a count of 1.
    if isinstance(value, bool) and annotation != "bool":
        return False
    return isinstance(value, _KINDS[annotation])


@dataclass(frozen=True)
class LoadedSettings:
    settings: Settings
    # A sentence for the user when the file had to be reset; None when all went well.
    notice: str | None = None
    moved_to: Path | None = None


def settings_path() -> Path:
    return paths.config_dir() / SETTINGS_FILE


def load_settings(path: Path | None = None) -> LoadedSettings:
    path = path or settings_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return LoadedSettings(Settings())
    except OSError as e:
        log.warning("Could not read settings %s: %s", path, e)
        notice = f"Your settings file {path} could not be read ({e}); the defaults are used."
        return LoadedSettings(Settings(), notice=notice)
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("the top level is not a JSON object")
    except (UnicodeDecodeError, ValueError) as e:
        moved = _set_aside(path)
        log.warning("Corrupt settings file %s (%s); moved to %s", path, e, moved)
        where = f" The old file was kept as {moved.name}." if moved else ""
        return LoadedSettings(
            Settings(),
            notice=f"Your settings file was damaged and has been reset to the defaults.{where}",
            moved_to=moved,
        )
    return LoadedSettings(Settings.from_dict(data))


def _set_aside(path: Path) -> Path | None:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    counter = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{counter}")
        counter += 1
    try:
        path.replace(target)
    except OSError as e:
        log.error("Could not move the corrupt settings file aside: %s", e)
        return None
    return target


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write atomically: readers see either the old file or the new one, never a mix."""
    write_atomic_json(path or settings_path(), settings.to_dict())
