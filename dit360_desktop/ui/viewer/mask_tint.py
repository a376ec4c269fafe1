"""How the viewer shows an edit mask: a red tint over the parts marked for regeneration.

The GL renderer does this in ``view.frag`` (MASK variant) and the CPU renderer with ``apply_mask_tint``;
both use these numbers so the two agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# Linear RGB of the tint and how strongly a fully marked pixel takes it (0..1).
MASK_TINT_RGB = (1.0, 0.16, 0.12)
MASK_TINT_STRENGTH = 0.55


def apply_mask_tint(rgb: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """Tint (H, W, 3) uint8 pixels by mask ``coverage`` (H, W) in 0..255; returns a new array."""
    import numpy as np

    weight = (coverage.astype(np.float32) * (MASK_TINT_STRENGTH / 255.0))[..., None]
    tint = np.asarray(MASK_TINT_RGB, dtype=np.float32) * 255.0
    mixed = rgb.astype(np.float32) * (1.0 - weight) + tint * weight
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
