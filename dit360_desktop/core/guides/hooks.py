"""The guides of a generation (docs/guides.md) as hooks of the one denoising loop."""

from __future__ import annotations

import torch

from dit360_desktop.core.geometry import LatentGeometry
from dit360_desktop.core.sampler import DenoiseHook
from dit360_desktop.panorama.request import GenerationRequest


def guide_hooks(
    model, request: GenerationRequest, geometry: LatentGeometry, dtype: torch.dtype
) -> list[DenoiseHook]:
    """The hooks of the guides ``request`` sets (none: the plain loop)."""
    hooks: list[DenoiseHook] = []
    if request.control_image is not None:
        from dit360_desktop.core.guides.control import control_hook

        hooks.append(control_hook(model, request, geometry, dtype))
    if request.regions_file is not None:
        from dit360_desktop.core.guides.regions import regions_hook

        regions = regions_hook(model, request, geometry)
        if regions is not None:
            hooks.append(regions)
    return hooks
