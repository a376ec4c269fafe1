"""Render a camera view of an equirect on the CPU.

Used where there is no OpenGL (the fallback widget's snapshot) and as the reference the GL renderer
is tested against. The sampling is ``panorama.projection.sample_equirect`` (bilinear, wrapping across the
0/360° seam, clamped at the poles); only the rays come from the viewer's camera model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dit360_desktop.ui.common.camera import CameraView, view_rays
from dit360_desktop.ui.viewer.mask_tint import apply_mask_tint

if TYPE_CHECKING:
    import numpy as np

BACKGROUND_RGB = (17, 18, 21)  # render_settings.BACKGROUND in 8-bit


def render_view(
    image: np.ndarray,
    view: CameraView,
    width: int,
    height: int,
    fov: float | None = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """(height, width, 3) uint8 picture of ``view``; outside the sphere (flat mode) is background.
    ``mask`` (an equirect uint8 edit mask, any 2:1 size) is tinted over it as the GL viewer does."""
    from dit360_desktop.panorama.projection import sample_equirect  # numpy: not on the start-up path

    rays, valid = view_rays(view, width, height, fov=fov)
    rgb = sample_equirect(image, rays)
    if mask is not None:
        rgb = apply_mask_tint(rgb, sample_equirect(mask[..., None], rays)[..., 0])
    rgb[~valid] = BACKGROUND_RGB
    return rgb
