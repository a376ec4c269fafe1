"""Where the catalog's depth model is installed (``dit360 depth``, ``export-3d``, ``stereo``)."""

from __future__ import annotations

from pathlib import Path

from dit360_desktop.models.catalog import load_catalog
from dit360_desktop.models.layouts import hf_cache_snapshots
from dit360_desktop.models.location import hf_hub_cache_dir
from dit360_desktop.models.registry import component_path, read_registry
from dit360_desktop.panorama.errors import ModelMissingError


def installed_depth_model(models_dir: Path | None = None) -> Path:
    """The default depth model's folder: from the model manager's registry, else from the HF cache."""
    component = load_catalog().for_role("depth")
    entry = read_registry(models_dir).get(component.id)
    places = []
    path = component_path(entry, component) if entry is not None else None
    if path is not None:
        places.append(path)
    for repo_id in component.repo_ids:
        places.extend(hf_cache_snapshots(hf_hub_cache_dir(), repo_id))
    for place in places:
        if place.is_dir() and (place / "config.json").is_file() and any(place.glob("*.safetensors")):
            return place
    raise ModelMissingError(f"No depth model is installed ({component.name}).")
