"""Where the catalog's depth model is installed (``dit360 depth``, ``export-3d``, ``stereo``)."""

from __future__ import annotations

import json
from pathlib import Path

from dit360_desktop.models.registry import candidate_places
from dit360_desktop.panorama.errors import ModelMissingError


def installed_depth_model(models_dir: Path | None = None) -> Path:
    """The default depth model's folder: from the model manager's registry, else from the HF cache."""
    component, places = candidate_places("depth", models_dir)
    for place in places:
        if place.is_dir() and (place / "config.json").is_file() and any(place.glob("*.safetensors")):
            return place
    raise ModelMissingError(
        f"No depth model is installed: depth, 3D and stereo need {component.name}.", component=component.id
    )


# Depth Anything V2's DINOv2 backbones by width: ViT-S, ViT-B, ViT-L (the catalog's Small, Base, Large).
_BACKBONE_WIDTHS = {
    384: "depth-anything-v2-small",
    768: "depth-anything-v2-base",
    1024: "depth-anything-v2-large",
}


def depth_component_of(folder: Path) -> str | None:
    """The catalog component a Depth Anything V2 folder is (by its backbone's width), or None: not one,
    a metric variant (not in the catalog), or a width the catalog does not list."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or config.get("model_type") != "depth_anything":
        return None
    if config.get("depth_estimation_type", "relative") != "relative":
        return None
    width = (config.get("backbone_config") or {}).get("hidden_size")
    return _BACKBONE_WIDTHS.get(width)
