"""The registry of installed components (``<models dir>/registry.json``) and default model resolution.

The engine calls :func:`installed_model_paths` to find its default model: what the manager downloaded or
imported first, then a copy already in the user's Hugging Face cache, used in place. A damaged
``registry.json`` is set aside and rebuilt here from the component folders (``rebuild_entries``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dit360_desktop.models.catalog import Catalog, Component, load_catalog
from dit360_desktop.models.fsutil import atomic_write_json, file_lock
from dit360_desktop.models.layouts import (
    diffusers_folder_problems,
    find_in_hf_cache,
    hf_cache_snapshots,
    lora_path_in,
    redux_folder_problems,
)
from dit360_desktop.models.location import hf_hub_cache_dir, resolve_models_dir
from dit360_desktop.panorama.errors import ModelInvalidError
from dit360_desktop.panorama.safetensors_check import check_safetensors_file

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
    def from_json(cls, component_id: str, data: Any) -> RegistryEntry:
        """Parse one entry; ValueError naming the field when a value has the wrong type."""
        if not isinstance(data, dict):
            raise ValueError(f"the entry is {type(data).__name__}, not an object")
        files = data.get("files", {})
        if not isinstance(files, dict):
            raise ValueError(f'"files" is {type(files).__name__}, not an object')
        records = {}
        for name, item in files.items():
            if not isinstance(item, dict):
                raise ValueError(f'files["{name}"] is not an object')
            records[name] = FileRecord(
                _typed(item, "size", int, f'files["{name}"].size'),
                _typed(item, "sha256", str | None, f'files["{name}"].sha256'),
                _typed(item, "git_sha1", str | None, f'files["{name}"].git_sha1'),
            )
        problems = data.get("problems", [])
        if not isinstance(problems, list) or not all(isinstance(p, str) for p in problems):
            raise ValueError('"problems" is not a list of file names')
        return cls(
            component_id=component_id,
            path=Path(_typed(data, "path", str, "path")),
            source=_typed(data, "source", str, "source"),
            complete=_typed(data, "complete", bool, "complete"),
            repo_id=_typed(data, "repo_id", str | None, "repo_id"),
            commit=_typed(data, "commit", str | None, "commit"),
            files=records,
            problems=tuple(problems),
        )


def _typed(data: dict[str, Any], key: str, kind: Any, label: str) -> Any:
    """``data[key]`` if it has the type ``kind``; a field whose ``kind`` allows None may be absent."""
    if key not in data and isinstance(None, kind):
        return None
    if key not in data:
        raise ValueError(f'"{label}" is missing')
    value = data[key]
    # bool is an int to Python, never to the registry.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f'"{label}" is {json.dumps(value)}, which has the wrong type')
    return value


def registry_path(models_dir: Path | None = None) -> Path:
    return resolve_models_dir(models_dir) / REGISTRY_FILE


def read_registry(models_dir: Path | None = None) -> dict[str, RegistryEntry]:
    """The registered components; a damaged file is set aside and rebuilt from the folders first."""
    models_dir = resolve_models_dir(models_dir)
    components = _read_components(models_dir / REGISTRY_FILE)
    if components is None:
        with file_lock(models_dir / _LOCK_FILE):
            components = _components_or_rebuild(models_dir)
    entries, _damaged = _parse(components)
    return entries


def damaged_entries(models_dir: Path | None = None) -> dict[str, str]:
    """Registry entries that cannot be used, with the reason: what to tell instead of "not installed"."""
    components = _read_components(registry_path(models_dir))
    return _parse(components or {})[1]


def _read_components(path: Path) -> dict[str, Any] | None:
    """The ``components`` object; {} when there is no file; None when the file is damaged."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("components", {}), dict):
        return None
    return data.get("components", {})


def _parse(components: dict[str, Any]) -> tuple[dict[str, RegistryEntry], dict[str, str]]:
    entries: dict[str, RegistryEntry] = {}
    damaged: dict[str, str] = {}
    for component_id, item in components.items():
        try:
            entries[component_id] = RegistryEntry.from_json(component_id, item)
        except (KeyError, TypeError, ValueError) as e:
            reason = f"missing field {e}" if isinstance(e, KeyError) else str(e)
            log.warning("The registry entry %s is damaged (%s); it is not used", component_id, reason)
            damaged[component_id] = reason
    return entries, damaged


def _components_or_rebuild(models_dir: Path) -> dict[str, Any]:
    """Under the lock: the components, after setting a damaged file aside and rebuilding it."""
    path = models_dir / REGISTRY_FILE
    components = _read_components(path)
    if components is not None:
        return components  # another process repaired it while we waited for the lock
    aside = _set_aside(path)
    rebuilt = rebuild_entries(models_dir)
    components = {entry.component_id: entry.to_json() for entry in rebuilt}
    atomic_write_json(path, {"format": _FORMAT, "components": components})
    found = ", ".join(f"{e.component_id} ({'complete' if e.complete else 'incomplete'})" for e in rebuilt)
    log.warning(
        "The model registry %s was damaged. It was kept as %s and rebuilt from the files on disk: %s. "
        "Run 'dit360 models download' to fetch anything missing (files in place are checked against the "
        "hub, not fetched again), and import in-place folders again.",
        path,
        aside.name,
        found or "nothing was found",
    )
    return components


def _set_aside(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    path.replace(aside)
    return aside


# Rebuilding the registry from the component folders, after ``registry.json`` was found damaged.
#
# Offline, a file counts as in place when it is wanted by the catalog and, for safetensors, its header
# checks out (the header records every tensor's size, so a truncated or padded file fails). Hashes are
# not known here: the entries carry ``sha256 = None``, and the next ``download`` checks each such file
# against the hub's sha256 before deciding to fetch it (``downloads.DownloadManager.plan``), so only what is
# really missing or bad moves. Folders imported in place live elsewhere and cannot be found again.


def rebuild_entries(models_dir: Path, catalog: Catalog | None = None) -> list[RegistryEntry]:
    """One entry for every supported component whose folder holds at least one good file."""
    catalog = catalog or load_catalog()
    entries = []
    for component in catalog.components:
        folder = models_dir / component.id
        if component.supported and folder.is_dir():
            entry = _entry_for(component, folder)
            if entry is not None:
                entries.append(entry)
    return entries


def _entry_for(component: Component, folder: Path) -> RegistryEntry | None:
    records: dict[str, FileRecord] = {}
    bad: list[str] = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if any(part.startswith(".") for part in Path(rel).parts) or not component.wants(rel):
            continue
        if path.is_symlink() or not path.is_file():
            continue  # the manager writes plain files; anything else is not ours to vouch for
        if path.suffix == ".safetensors":
            try:
                check_safetensors_file(path)
            except ModelInvalidError as e:
                log.warning("Rebuilding the registry: %s is damaged (%s); it will be fetched again", path, e)
                bad.append(rel)
                continue
        records[rel] = FileRecord(path.stat().st_size, None)
    if not records:
        return None
    if component.layout == "diffusers":
        complete = not bad and not diffusers_folder_problems(folder)
    elif component.role == "redux":
        complete = not bad and not redux_folder_problems(folder)
    else:
        complete = not bad and lora_path_in(folder) is not None
    return RegistryEntry(
        component_id=component.id,
        path=folder,
        source=SOURCE_DOWNLOAD,
        complete=complete,
        repo_id=None,
        commit=None,
        files=records,
        problems=tuple(bad),
    )


def modify_entry(
    models_dir: Path | None,
    component_id: str,
    change: Callable[[RegistryEntry | None], RegistryEntry | None],
) -> RegistryEntry | None:
    """Read-modify-write one entry under a cross-process lock; ``change`` returns None to remove it."""
    models_dir = resolve_models_dir(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(models_dir / _LOCK_FILE):
        # A damaged file is set aside and rebuilt first, never overwritten.
        components = _components_or_rebuild(models_dir)
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


def candidate_places(role: str, models_dir: Path | None = None) -> tuple[Component, list[Path]]:
    """The catalog component for a role and the places it may be installed, in the order to try: the model
    manager's registry entry, then every snapshot of its repositories in the Hugging Face cache. The caller
    decides which place holds a loadable copy (each model kind has its own files)."""
    component = load_catalog().for_role(role)
    entry = read_registry(models_dir).get(component.id)
    path = component_path(entry, component) if entry is not None else None
    places = [path] if path is not None else []
    for repo_id in component.repo_ids:
        places.extend(hf_cache_snapshots(hf_hub_cache_dir(), repo_id))
    return component, places


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


def unusable_reason(role: str, models_dir: Path | None = None) -> str | None:
    """Why the registered component for ``role`` cannot be used, or None when none is registered.

    What a "not installed" message should say instead when the registry does name one.
    """
    component = load_catalog().for_role(role)
    path = registry_path(models_dir)
    damaged = damaged_entries(models_dir).get(component.id)
    if damaged is not None:
        return f"its entry in {path} is damaged ({damaged})"
    entry = read_registry(models_dir).get(component.id)
    if entry is None:
        return None
    if entry.problems:
        return f"verify found damaged files in {entry.path}: {', '.join(entry.problems[:5])}"
    if not entry.complete:
        return f"its download into {entry.path} is not complete"
    if component.layout == "diffusers":
        problems = diffusers_folder_problems(entry.path)
        if problems:
            return f"the folder {entry.path} is not loadable: {'; '.join(problems[:5])}"
    return None
