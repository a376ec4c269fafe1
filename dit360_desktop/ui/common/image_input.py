"""Turn what callers hand the viewer (QImage or numpy) into one contiguous RGB uint8 array."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtGui import QImage

from dit360_desktop.ui.common.viewer_errors import ViewerError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

# The contract is 16384×8192; twice that in each direction is still tiled correctly, beyond it the
# upload alone would need gigabytes, so refuse with a message instead of stalling the UI.
MAX_PANORAMA_WIDTH = 32768
MAX_PANORAMA_HEIGHT = 16384


def qimage_to_rgb(image: QImage) -> np.ndarray:
    import numpy as np

    if image.isNull():
        raise ViewerError("The image is empty, so there is nothing to show.")
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = rgb.width(), rgb.height(), rgb.bytesPerLine()
    rows = np.frombuffer(rgb.constBits(), dtype=np.uint8, count=stride * height).reshape(height, stride)
    return rows[:, : width * 3].reshape(height, width, 3).copy()


def rgb_to_qimage(array: np.ndarray) -> QImage:
    """A QImage that owns a copy of an (H, W, 3) uint8 array."""
    import numpy as np

    array = np.ascontiguousarray(array, dtype=np.uint8)
    height, width = array.shape[:2]
    return QImage(array.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def as_rgb_array(
    image: QImage | np.ndarray, *, what: str = "panorama", warn_aspect: bool = True
) -> np.ndarray:
    """Validate and normalise a viewer input to a C-contiguous (H, W, 3) uint8 array."""
    import numpy as np

    if isinstance(image, QImage):
        array = qimage_to_rgb(image)
    elif isinstance(image, np.ndarray):
        array = image
    else:
        raise ViewerError(f"The {what} must be a QImage or a numpy array, not {type(image).__name__}.")
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ViewerError(
            f"The {what} must be an RGB image (height × width × 3, uint8); "
            f"got shape {array.shape} and type {array.dtype}."
        )
    height, width = array.shape[:2]
    if width < 2 or height < 1:
        raise ViewerError(f"The {what} is too small to show ({width}×{height} pixels).")
    if width > MAX_PANORAMA_WIDTH or height > MAX_PANORAMA_HEIGHT:
        raise ViewerError(
            f"The {what} is {width}×{height} pixels; the viewer shows panoramas up to "
            f"{MAX_PANORAMA_WIDTH}×{MAX_PANORAMA_HEIGHT}. Downscale it first."
        )
    if warn_aspect and width != 2 * height:
        log.warning("%s is %d×%d, not 2:1; it is shown stretched over the full sphere", what, width, height)
    return np.ascontiguousarray(array)
