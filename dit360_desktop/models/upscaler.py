"""Where the catalog's super-resolution model is installed (``dit360 upscale`` and the app's Upscale…)."""

from __future__ import annotations

from pathlib import Path

from dit360_desktop.models.registry import candidate_places
from dit360_desktop.panorama.errors import ModelMissingError

UPSCALER_HINT = (
    "Run `dit360 models download realesrgan-general-x4v3` (or download it in the model manager), or choose "
    "a super-resolution .safetensors file that spandrel supports."
)


def installed_sr_model(models_dir: Path | None = None) -> Path:
    """The catalog's upscaler file from the model manager's registry, else from the HF cache."""
    component, places = candidate_places("upscaler", models_dir)
    for place in places:
        files = [place] if place.is_file() else sorted(place.glob("*.safetensors"))
        files = [f for f in files if f.suffix == ".safetensors"]
        if files:
            return files[0]
    raise ModelMissingError(
        f"No super-resolution model is installed ({component.name}).", component=component.id
    )
