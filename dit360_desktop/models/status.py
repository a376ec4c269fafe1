"""What the model manager shows per component: its state, where it is, how big it is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dit360_desktop.models.catalog import Catalog, Component, load_catalog
from dit360_desktop.models.downloads import PARTIAL_DIR, DownloadManager
from dit360_desktop.models.fsutil import free_bytes
from dit360_desktop.models.layouts import find_in_hf_cache
from dit360_desktop.models.location import hf_hub_cache_dir, resolve_models_dir
from dit360_desktop.models.registry import component_path, read_registry

READY, HF_CACHE, PARTIAL, PAUSED, QUEUED, CORRUPT, MISSING, PLANNED = (
    "ready",
    "ready (HF cache)",
    "partial",
    "paused",
    "queued",
    "corrupt",
    "missing",
    "planned",
)


@dataclass(frozen=True)
class ComponentStatus:
    component: Component
    state: str
    path: Path | None
    installed_bytes: int  # bytes of registered files in place
    partial_bytes: int  # bytes in unfinished .part files
    problems: tuple[str, ...] = ()


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def component_statuses(
    models_dir: Path | None = None, catalog: Catalog | None = None
) -> list[ComponentStatus]:
    models_dir = resolve_models_dir(models_dir)
    catalog = catalog or load_catalog()
    registry = read_registry(models_dir)
    manager = DownloadManager(models_dir, catalog=catalog)
    queued = set(manager.queued_components())
    paused = {k for k, v in manager.paused_files().items() if v}
    statuses = []
    for component in catalog.components:
        partial_root = models_dir / PARTIAL_DIR / component.id
        partial = sum(p.stat().st_size for p in partial_root.rglob("*.part")) if partial_root.is_dir() else 0
        entry = registry.get(component.id)
        installed = sum(r.size for r in entry.files.values()) if entry else 0
        if not component.supported:
            statuses.append(ComponentStatus(component, PLANNED, None, 0, 0))
            continue
        path = component_path(entry, component) if entry else None
        if entry is not None and entry.problems:
            statuses.append(
                ComponentStatus(component, CORRUPT, entry.path, installed, partial, entry.problems)
            )
        elif path is not None:
            statuses.append(ComponentStatus(component, READY, path, installed, partial))
        elif entry is not None or partial:
            state = PAUSED if component.id in paused else QUEUED if component.id in queued else PARTIAL
            statuses.append(
                ComponentStatus(component, state, entry.path if entry else None, installed, partial)
            )
        else:
            cached = find_in_hf_cache(hf_hub_cache_dir(), component.repo_ids, component.layout)
            if cached is not None:
                statuses.append(ComponentStatus(component, HF_CACHE, cached, _size(cached), 0))
            else:
                statuses.append(
                    ComponentStatus(component, QUEUED if component.id in queued else MISSING, None, 0, 0)
                )
    return statuses


def disk_usage(models_dir: Path | None = None) -> tuple[int, int]:
    """(bytes used under the models folder, bytes free on its drive)."""
    models_dir = resolve_models_dir(models_dir)
    return _size(models_dir), free_bytes(models_dir)
