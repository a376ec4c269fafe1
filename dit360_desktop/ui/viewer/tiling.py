"""Split a panorama larger than GL_MAX_TEXTURE_SIZE into uploadable tiles.

Each tile is converted into the cubemap in its own pass, keeping full resolution instead of
downscaling. Tiles carry a border copied from their neighbours (wrapping around the 0/360° seam
horizontally, clamping at the poles) so bilinear and mipmapped sampling near a tile edge reads the
same texels it would in one big texture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Wide enough that mip levels up to 4 still see real neighbour texels at a tile edge.
TILE_BORDER = 16


@dataclass(frozen=True)
class Tile:
    """A region of the equirect in full-image pixels plus the texture that covers it."""

    x0: int
    y0: int
    x1: int
    y1: int
    border: int
    wraps: bool  # a single tile covering the whole width samples with GL_REPEAT instead of a border

    @property
    def origin(self) -> tuple[int, int]:
        return self.x0 - self.border, self.y0 - self.border

    @property
    def texture_size(self) -> tuple[int, int]:
        return self.x1 - self.x0 + 2 * self.border, self.y1 - self.y0 + 2 * self.border


def plan_tiles(width: int, height: int, max_size: int, border: int = TILE_BORDER) -> list[Tile]:
    """Tiles covering a width×height image, none of whose textures exceeds ``max_size``."""
    if width <= 0 or height <= 0:
        raise ValueError(f"panorama size must be positive, got {width}×{height}")
    if width <= max_size and height <= max_size:
        return [Tile(0, 0, width, height, 0, wraps=True)]
    content = max_size - 2 * border
    if content < 1:
        raise ValueError(f"maximum texture size {max_size} is too small to tile with a {border}px border")
    columns = math.ceil(width / content)
    rows = math.ceil(height / content)
    xs = np.linspace(0, width, columns + 1).round().astype(int)
    ys = np.linspace(0, height, rows + 1).round().astype(int)
    return [
        Tile(int(xs[c]), int(ys[r]), int(xs[c + 1]), int(ys[r + 1]), border, wraps=False)
        for r in range(rows)
        for c in range(columns)
    ]


def tile_pixels(image: np.ndarray, tile: Tile) -> np.ndarray:
    """The tile's texture contents (C-contiguous), with wrapped columns and clamped rows as border."""
    if tile.wraps:
        return np.ascontiguousarray(image)
    height, width = image.shape[:2]
    ox, oy = tile.origin
    tw, th = tile.texture_size
    columns = np.arange(ox, ox + tw) % width
    rows = np.clip(np.arange(oy, oy + th), 0, height - 1)
    return np.ascontiguousarray(image[rows[:, None], columns[None, :]])
