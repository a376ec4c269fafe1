"""Where the catalog's super-resolution model is installed (``dit360 upscale`` and the app's Upscale…)."""

from __future__ import annotations

from pathlib import Path

from dit360_desktop.models.catalog import load_catalog
from dit360_desktop.models.layouts import hf_cache_snapshots
from dit360_desktop.models.location import hf_hub_cache_dir
from dit360_desktop.models.registry import component_path, read_registry
from dit360_desktop.panorama.errors import ModelMissingError

UPSCALER_HINT = (
    "Run `dit360 models download realesrgan-general-x4v3` (or download it in the model manager), or choose "
    "a super-resolution .safetensors file that spandrel supports."
)


def installed_sr_model(models_dir: Path | None = None) -> Path:
    """The catalog's upscaler file from the model manager's registry, else from the HF cache."""
    component = load_catalog().for_role("upscaler")
    entry = read_registry(models_dir).get(component.id)
    places = []
    path = component_path(entry, component) if entry is not None else None
    if path is not None:
        places.append(path)
    for repo_id in component.repo_ids:
        places.extend(hf_cache_snapshots(hf_hub_cache_dir(), repo_id))
    for place in places:
        files = [place] if place.is_file() else sorted(place.glob("*.safetensors"))
        files = [f for f in files if f.suffix == ".safetensors"]
        if files:
            return files[0]
    raise ModelMissingError(f"No super-resolution model is installed ({component.name}).")
