"""The edit mask as an observable model: an equirect uint8 array at the panorama's resolution.

White (255) means regenerate, black keeps, grey regenerates partly: the convention of diffusers and A1111
and of ``dit360 edit --mask``. Qt-free, so the tests drive it without a window; the viewer's overlay and
the edit panel listen to it.

Undo keeps, for each operation, only the band of rows it changed (before and after), so a brush stroke
costs a few rows of memory, not a whole mask. A stroke is one undo step however many segments it has.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dit360_desktop.ui.painting.brush import Brush, EquirectGrid, RowBand, paint_segment

log = logging.getLogger(__name__)

# Undo history is capped by bytes, not steps: a 8192×4096 invert is 64 MB of before/after rows.
UNDO_BUDGET_BYTES = 256 * 1024 * 1024


class MaskImportError(ValueError):
    """A mask file that cannot be used for this panorama; the message is for the user."""


@dataclass(frozen=True)
class _Change:
    band: RowBand
    before: np.ndarray
    after: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.before.nbytes + self.after.nbytes


MaskListener = Callable[[RowBand], None]


class MaskModel:
    """Mask pixels plus undo/redo; listeners hear ``RowBand`` of every change (for partial uploads)."""

    def __init__(self, width: int, height: int) -> None:
        self._grid = EquirectGrid(width, height)
        self._mask = np.zeros((height, width), dtype=np.uint8)
        self._undo: list[_Change] = []
        self._redo: list[_Change] = []
        self._listeners: list[MaskListener] = []
        self._stroke_before: np.ndarray | None = None
        self._stroke_band: RowBand | None = None
        self._last_point: np.ndarray | None = None
        self._stroke_brush: Brush | None = None

    @property
    def width(self) -> int:
        return self._grid.width

    @property
    def height(self) -> int:
        return self._grid.height

    @property
    def array(self) -> np.ndarray:
        """The live mask (H, W) uint8; read it, change it only through the model."""
        return self._mask

    @property
    def is_empty(self) -> bool:
        return not self._mask.any()

    @property
    def coverage(self) -> float:
        """Fraction of the sphere's solid angle marked for regeneration (grey counts partly)."""
        weights = self._grid.cos_lat.astype(np.float64)
        per_row = self._mask.astype(np.float64).sum(axis=1) / 255.0
        return float((per_row * weights).sum() / (weights.sum() * self.width))

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def stroking(self) -> bool:
        return self._stroke_before is not None

    def add_listener(self, listener: MaskListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # Strokes -------------------------------------------------------------------------------------------

    def begin_stroke(self, direction: np.ndarray, brush: Brush) -> None:
        """Start a stroke at a view direction (a unit vector in the viewer's world axes) and paint a dab."""
        if self._stroke_before is not None:
            self.end_stroke()
        self._stroke_before = self._mask.copy()
        self._stroke_band = None
        self._stroke_brush = brush
        self._last_point = np.asarray(direction, dtype=np.float64)
        self._paint(self._last_point, self._last_point)

    def continue_stroke(self, direction: np.ndarray) -> None:
        if self._stroke_before is None or self._last_point is None:
            return
        point = np.asarray(direction, dtype=np.float64)
        self._paint(self._last_point, point)
        self._last_point = point

    def end_stroke(self) -> None:
        before, band = self._stroke_before, self._stroke_band
        self._stroke_before = self._stroke_band = self._last_point = self._stroke_brush = None
        if before is None or band is None or band.bottom <= band.top:
            return
        rows = slice(band.top, band.bottom)
        if np.array_equal(before[rows], self._mask[rows]):
            return
        self._record(_Change(band, before[rows].copy(), self._mask[rows].copy()))

    def _paint(self, a: np.ndarray, b: np.ndarray) -> None:
        band = paint_segment(self._mask, self._grid, a, b, self._stroke_brush)
        if band.bottom > band.top:
            self._stroke_band = band.union(self._stroke_band)
            self._notify(band)

    # Whole-mask operations -----------------------------------------------------------------------------

    def clear(self) -> None:
        self.replace(np.zeros_like(self._mask))

    def fill(self) -> None:
        self.replace(np.full_like(self._mask, 255))

    def invert(self) -> None:
        self.replace(255 - self._mask)

    def replace(self, mask: np.ndarray) -> None:
        """Set the whole mask (one undo step); a no-op when nothing changes."""
        mask = np.asarray(mask)
        if mask.shape != self._mask.shape or mask.dtype != np.uint8:
            raise ValueError(
                f"a mask must be {self.width}×{self.height} uint8, got {mask.shape} {mask.dtype}"
            )
        if np.array_equal(mask, self._mask):
            return
        band = RowBand(0, self.height)
        change = _Change(band, self._mask.copy(), np.array(mask, copy=True))
        self._mask[:] = mask
        self._record(change)
        self._notify(band)

    # Undo ------------------------------------------------------------------------------------------------

    def undo(self) -> bool:
        if self._stroke_before is not None:
            self.end_stroke()
        if not self._undo:
            return False
        change = self._undo.pop()
        self._mask[change.band.top : change.band.bottom] = change.before
        self._redo.append(change)
        self._notify(change.band)
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        change = self._redo.pop()
        self._mask[change.band.top : change.band.bottom] = change.after
        self._undo.append(change)
        self._notify(change.band)
        return True

    def _record(self, change: _Change) -> None:
        self._undo.append(change)
        self._redo.clear()
        total = sum(c.nbytes for c in self._undo)
        while len(self._undo) > 1 and total > UNDO_BUDGET_BYTES:
            total -= self._undo.pop(0).nbytes

    def _notify(self, band: RowBand) -> None:
        for listener in list(self._listeners):
            listener(band)

    # Files -------------------------------------------------------------------------------------------

    def to_png_bytes(self) -> bytes:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(self._mask, mode="L").save(buffer, format="PNG")
        return buffer.getvalue()

    def export_png(self, path: str | Path) -> Path:
        """Write the mask as an 8-bit greyscale PNG, atomically (white = regenerate)."""
        from dit360_desktop.panorama.fileio import write_atomic

        return write_atomic(Path(path), self.to_png_bytes())

    def import_png(self, path: str | Path) -> None:
        """Load a mask file (one undo step). Any size with the panorama's 2:1 aspect is resized to it;
        read by ``panorama.mask.read_mask``'s rule (transparent = keep, noise thresholded)."""
        self.replace(load_mask_array(path, self.width, self.height))


def load_mask_array(path: str | Path, width: int, height: int) -> np.ndarray:
    """A mask file as (height, width) uint8, through the app's safe image loader."""
    from PIL import Image

    from dit360_desktop.panorama.errors import ImageLoadError
    from dit360_desktop.panorama.mask import read_mask

    path = Path(path)
    try:
        values = read_mask(path)
    except ImageLoadError as e:
        raise MaskImportError(f"The mask {path.name} could not be read: {e}") from e
    source_h, source_w = values.shape
    if abs((source_w / source_h) / (width / height) - 1.0) > 0.01:
        raise MaskImportError(
            f"The mask {path.name} is {source_w}×{source_h}, but the panorama is {width}×{height}; "
            "a mask needs the same aspect ratio as the image."
        )
    grey = Image.fromarray(values, mode="L")
    if grey.size != (width, height):
        grey = grey.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(grey, dtype=np.uint8).copy()
