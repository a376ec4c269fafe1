"""Canny edges of a panorama, seam-aware: the control image for the FLUX.1 Canny Control LoRA, computed
the same way by ``dit360 generate --control-from canny`` and the app's "From edges".

OpenCV's Canny is the reference (the Control LoRA was trained on its edges); OpenCV comes with the
``guides`` extra and is not in the double-click bundles (``packaging/bundle_config.py``), so its absence
is a typed error with a sentence, never a traceback. The panorama is wrapped by a few columns at 0/360° before
the detector runs, so an edge that crosses the seam is found on both sides and the seam itself, which is
not an edge, gives none.
"""

from __future__ import annotations

import numpy as np

from dit360_desktop.panorama.features import FeatureUnavailableError

# Columns copied across the seam: more than the detector's reach (its 5×5 Gaussian and 3×3 Sobel) so
# the kept columns are computed as if the panorama went on.
SEAM_WRAP = 8
THRESHOLDS = (100, 200)
MISSING_OPENCV = (
    "Edges (Canny) need OpenCV, which this installation does not include; a source install adds it with "
    "the guides extra (pip install 'dit360-desktop[guides]'). A depth map or a sketch works without it."
)


def canny_edges(pixels: np.ndarray, low: int = THRESHOLDS[0], high: int = THRESHOLDS[1]) -> np.ndarray:
    """White edges on black, HxWx3 uint8, of an HxWx3 (or 4) uint8 panorama. Raises
    ``FeatureUnavailableError`` when OpenCV is not installed."""
    try:
        import cv2
    except ImportError as error:
        raise FeatureUnavailableError(MISSING_OPENCV) from error

    grey = cv2.cvtColor(np.ascontiguousarray(pixels[..., :3]), cv2.COLOR_RGB2GRAY)
    wrapped = np.concatenate([grey[:, -SEAM_WRAP:], grey, grey[:, :SEAM_WRAP]], axis=1)
    edges = cv2.Canny(wrapped, low, high)[:, SEAM_WRAP:-SEAM_WRAP]
    return np.ascontiguousarray(np.repeat(edges[..., None], 3, axis=2))
