"""The registry of installed components (``<models dir>/registry.json``) and default model resolution.

The engine calls :func:`installed_model_paths` to find its default model: what the manager downloaded or
imported first, then a copy already in the user's Hugging Face cache, used in place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dit360_desktop.models.catalog import Component, load_catalog
from dit360_desktop.models.fsutil import atomic_write_json, file_lock, read_json
from dit360_desktop.models.layouts import diffusers_folder_problems, find_in_hf_cache, lora_path_in
from dit360_desktop.models.location import hf_hub_cache_dir, resolve_models_dir

log = logging.getLogger(__name__)

REGISTRY_FILE = "registry.json"
_LOCK_FILE = ".registry.lock"
_FORMAT = 1

SOURCE_DOWNLOAD = "download"
SOURCE_COPY = "copy"
SOURCE_IN_PLACE = "in-place"


@dataclass(frozen=True)
class InstalledPaths:
    """``base``: a diffusers FLUX.1-dev folder. ``lora``: a PEFT folder or a single .safetensors file."""

    base: Path | None
    lora: Path | None


@dataclass(frozen=True)
class FileRecord:
    size: int
    sha256: str | None
    git_sha1: str | None = None  # the hub's blob id for small non-LFS files, to spot a changed config


@dataclass(frozen=True)
class RegistryEntry:
    component_id: str
    path: Path
    source: str
    complete: bool
    repo_id: str | None
    commit: str | None
    files: dict[str, FileRecord]
    problems: tuple[str, ...] = ()  # files the last verify found damaged or missing

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "source": self.source,
            "complete": self.complete,
            "repo_id": self.repo_id,
            "commit": self.commit,
            "files": {
                k: {"size": v.size, "sha256": v.sha256, "git_sha1": v.git_sha1}
                for k, v in sorted(self.files.items())
            },
            "problems": list(self.problems),
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    @classmethod
    def from_json(cls, component_id: str, data: dict[str, Any]) -> RegistryEntry:
        return cls(
            component_id=component_id,
            path=Path(data["path"]),
            source=data["source"],
            complete=bool(data["complete"]),
            repo_id=data.get("repo_id"),
            commit=data.get("commit"),
            files={
                k: FileRecord(int(v["size"]), v.get("sha256"), v.get("git_sha1"))
                for k, v in data.get("files", {}).items()
            },
            problems=tuple(data.get("problems", ())),
        )


def registry_path(models_dir: Path | None = None) -> Path:
    return resolve_models_dir(models_dir) / REGISTRY_FILE


def read_registry(models_dir: Path | None = None) -> dict[str, RegistryEntry]:
    path = registry_path(models_dir)
    data = read_json(path)
    if data is None:
        return {}
    entries: dict[str, RegistryEntry] = {}
    for component_id, item in (data.get("components") or {}).items() if isinstance(data, dict) else ():
        try:
            entries[component_id] = RegistryEntry.from_json(component_id, item)
        except (KeyError, TypeError, ValueError) as e:
            log.warning("Ignoring a damaged registry entry %s in %s: %s", component_id, path, e)
    return entries


def modify_entry(
    models_dir: Path | None,
    component_id: str,
    change: Callable[[RegistryEntry | None], RegistryEntry | None],
) -> RegistryEntry | None:
    """Read-modify-write one entry under a cross-process lock; ``change`` returns None to remove it."""
    models_dir = resolve_models_dir(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(models_dir / _LOCK_FILE):
        data = read_json(models_dir / REGISTRY_FILE)
        components = data.get("components", {}) if isinstance(data, dict) else {}
        item = components.get(component_id)
        try:
            current = RegistryEntry.from_json(component_id, item) if isinstance(item, dict) else None
        except (KeyError, TypeError, ValueError):
            current = None
        updated = change(current)
        if updated is None:
            components.pop(component_id, None)
        else:
            components[component_id] = updated.to_json()
        atomic_write_json(models_dir / REGISTRY_FILE, {"format": _FORMAT, "components": components})
        return updated


def update_registry(models_dir: Path | None, entry: RegistryEntry) -> None:
    modify_entry(models_dir, entry.component_id, lambda _old: entry)


def remove_entry(models_dir: Path | None, component_id: str) -> None:
    modify_entry(models_dir, component_id, lambda _old: None)


def component_path(entry: RegistryEntry, component: Component) -> Path | None:
    """The loadable path of a registered component, or None when it is incomplete or gone."""
    if not entry.complete:
        return None
    if component.layout == "diffusers":
        return entry.path if not diffusers_folder_problems(entry.path) else None
    if component.layout == "lora":
        return lora_path_in(entry.path)
    return entry.path if entry.path.exists() else None


def installed_model_paths(models_dir: Path | None = None) -> InstalledPaths | None:
    """The base model and LoRA to use by default, or None when neither is installed anywhere we look."""
    catalog = load_catalog()
    entries = read_registry(models_dir)
    found: dict[str, Path | None] = {}
    for role in ("base", "lora"):
        component = catalog.for_role(role)
        entry = entries.get(component.id)
        path = component_path(entry, component) if entry else None
        if path is None and entry is not None:
            log.info("Registered %s at %s is incomplete; looking in the HF cache.", component.id, entry.path)
        if path is None:
            path = find_in_hf_cache(hf_hub_cache_dir(), component.repo_ids, component.layout)
        found[role] = path
    if found["base"] is None and found["lora"] is None:
        return None
    return InstalledPaths(base=found["base"], lora=found["lora"])
