"""Rebuilding the registry from the component folders, after ``registry.json`` was found damaged.

Offline, a file counts as in place when it is wanted by the catalog and, for safetensors, its header
checks out (the header records every tensor's size, so a truncated or padded file fails). Hashes are
not known here: the entries carry ``sha256 = None``, and the next ``download`` checks each such file
against the hub's sha256 before deciding to fetch it (``downloads.DownloadManager.plan``), so only what is
really missing or bad moves. Folders imported in place live elsewhere and cannot be found again.
"""

from __future__ import annotations

import logging
from pathlib import Path

from dit360_desktop.models.catalog import Catalog, Component, load_catalog
from dit360_desktop.models.layouts import diffusers_folder_problems, lora_path_in
from dit360_desktop.models.registry import SOURCE_DOWNLOAD, FileRecord, RegistryEntry
from dit360_desktop.panorama.errors import ModelInvalidError
from dit360_desktop.panorama.safetensors_check import check_safetensors_file

log = logging.getLogger(__name__)


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
