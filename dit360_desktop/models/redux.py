"""Where the catalog's FLUX.1 Redux model is installed (``dit360 generate --reference``)."""

from __future__ import annotations

from pathlib import Path

from dit360_desktop.models.registry import candidate_places
from dit360_desktop.panorama.errors import ModelMissingError
from dit360_desktop.panorama.flux_layout import REDUX_PARTS


def installed_redux_model(models_dir: Path | None = None) -> Path:
    """The Redux folder: from the model manager's registry, else from the Hugging Face cache."""
    component, places = candidate_places("redux", models_dir)
    for place in places:
        if all((place / part).is_dir() for part in REDUX_PARTS):
            return place
    raise ModelMissingError(
        f"No {component.name} is installed. Run `dit360 models download {component.id}` (gated: accept the "
        "FLUX.1 [dev] licence on Hugging Face first), or pass --redux-model DIR.",
        component=component.id,
    )
