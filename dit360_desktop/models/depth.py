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
_RELATIVE_BY_WIDTH = {
    384: "depth-anything-v2-small",
    768: "depth-anything-v2-base",
    1024: "depth-anything-v2-large",
}
# The metric checkpoints differ from each other only in the range their head is scaled to: transformers'
# conversion script (models/depth_anything/convert_depth_anything_to_hf.py) writes max_depth 20 for the
# indoor (Hypersim) models and 80 for the outdoor (Virtual KITTI 2) ones. The catalog lists Small of each.
_METRIC_BY_WIDTH_AND_RANGE = {
    (384, 20.0): "depth-anything-v2-metric-indoor-small",
    (384, 80.0): "depth-anything-v2-metric-outdoor-small",
}


def depth_component_of(folder: Path) -> str | None:
    """The catalog component a Depth Anything V2 folder is, by its backbone's width and, for a metric
    model, its depth range; None when it is not one or is a variant the catalog does not list."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict) or config.get("model_type") != "depth_anything":
        return None
    backbone = config.get("backbone_config")
    width = backbone.get("hidden_size") if isinstance(backbone, dict) else None
    if not isinstance(width, int):
        return None
    kind = config.get("depth_estimation_type", "relative")
    if kind == "relative":
        return _RELATIVE_BY_WIDTH.get(width)
    max_depth = config.get("max_depth")
    if kind != "metric" or isinstance(max_depth, bool) or not isinstance(max_depth, int | float):
        return None
    return _METRIC_BY_WIDTH_AND_RANGE.get((width, float(max_depth)))
