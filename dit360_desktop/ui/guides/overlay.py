"""The guides shown on the sphere: the control image (cyan, by its brightness) and each region's mask (in
the region's colour) tinted over the panorama, on a copy the viewer shows in its place.

The control image is fitted to the panorama as the engine will fit it (the form's ``fit``; a notice says
so) or refused when it cannot be (more than 4× off 2:1). Region masks come from the regions being painted,
else from the form's regions file (stretched, as the engine does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.guides.guide_files import GuideError, fit_guide_picture, luminance, read_region_drafts
from dit360_desktop.ui.guides.palette import CONTROL_COLOUR, REGION_COLOURS

log = logging.getLogger(__name__)

Layers = list[tuple[np.ndarray, tuple[int, int, int]]]


def guide_layers(
    form: GenerationForm, width: int, height: int, painted_regions: Callable[[], Layers], step: int = 1
) -> tuple[Layers, list[str]]:
    """The coverages to tint over a width×height panorama sampled every ``step`` pixels, and the notices
    (fitted pictures, refusals) about them."""
    layers: Layers = []
    notes: list[str] = []
    control = form["control_image"]
    if control:
        try:
            fitted = fit_guide_picture(control, width, height, form["fit"], "control image", step=step)
        except GuideError as e:
            notes.append(str(e))
        else:
            layers.append((luminance(fitted.pixels), CONTROL_COLOUR))
            if fitted.note:
                notes.append(fitted.note)
    regions = painted_regions()
    if not regions and form["regions_file"]:
        try:
            drafts, fitted_notes = read_region_drafts(form["regions_file"], width, height, step=step)
        except GuideError as e:
            notes.append(str(e))
        else:
            notes.extend(fitted_notes)
            regions = [(d.mask, REGION_COLOURS[i % len(REGION_COLOURS)]) for i, d in enumerate(drafts)]
    layers.extend(regions)
    return layers, notes
