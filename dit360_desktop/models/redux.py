"""Where the catalog's FLUX.1 Redux model is installed (``dit360 generate --reference``)."""

from __future__ import annotations

from pathlib import Path

from dit360_desktop.models.catalog import load_catalog
from dit360_desktop.models.layouts import hf_cache_snapshots
from dit360_desktop.models.location import hf_hub_cache_dir
from dit360_desktop.models.registry import component_path, read_registry
from dit360_desktop.panorama.errors import ModelMissingError
from dit360_desktop.panorama.flux_layout import REDUX_PARTS


def installed_redux_model(models_dir: Path | None = None) -> Path:
    """The Redux folder: from the model manager's registry, else from the Hugging Face cache."""
    component = load_catalog().for_role("redux")
    entry = read_registry(models_dir).get(component.id)
    places = []
    path = component_path(entry, component) if entry is not None else None
    if path is not None:
        places.append(path)
    for repo_id in component.repo_ids:
        places.extend(hf_cache_snapshots(hf_hub_cache_dir(), repo_id))
    for place in places:
        if all((place / part).is_dir() for part in REDUX_PARTS):
            return place
    raise ModelMissingError(
        f"No {component.name} is installed. Run `dit360 models download {component.id}` (gated: accept the "
        "FLUX.1 [dev] licence on Hugging Face first), or pass --redux-model DIR."
    )
