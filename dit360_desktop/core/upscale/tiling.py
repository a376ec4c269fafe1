"""Seam-aware tiled super-resolution of an equirectangular panorama.

A convolutional SR network sees only a neighbourhood of each pixel. Run on the flat image, it pads the
left and right edges with zeros or mirrors, so the 0/360° columns get different context and the seam
opens. Here the panorama is padded the way the sphere continues before the network sees it:

- left/right: circularly (column −1 is column W−1), so ``upscale(roll(x, k)) == roll(upscale(x), s·k)``;
- top/bottom: across the pole. Walking up past the top row you come down the other side of the sphere:
  row −1−i is row i at column x + W/2 (a plain reflect would put column x there, the wrong meridian).

Tiles: the panorama is cut into ``tile``² cores; each core is run with ``margin`` pixels of that padded
context around it and only the core's output is kept. When the margin covers the network's receptive
field the tiled result equals the untiled one; beyond it the far context barely matters (one level at
most in our measurements). Memory is that of one tile window, whatever the panorama's size: the output
canvas is uint8 in RAM, one tile at a time lives on the device.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

DEFAULT_MARGIN = 32
DEFAULT_TILE_CPU = 512
DEFAULT_TILE_GPU = 1024


@dataclass(frozen=True)
class Tile:
    """A core region in source pixels."""

    y: int
    x: int
    height: int
    width: int


def pole_wrap_pad(pixels: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """Pad an (H, W, C) equirect across the poles (vertically) and around the seam (horizontally)."""
    height, width = pixels.shape[:2]
    if max(top, bottom) > height or max(left, right) > width:
        raise ValueError(
            f"padding ({top}, {bottom}, {left}, {right}) is larger than the {width}×{height} panorama"
        )
    half = width // 2
    above = np.roll(pixels[:top][::-1], half, axis=1)
    below = np.roll(pixels[height - bottom :][::-1], half, axis=1)
    tall = np.concatenate([above, pixels, below], axis=0)
    return np.concatenate([tall[:, width - left :], tall, tall[:, :right]], axis=1)


def plan_tiles(height: int, width: int, tile: int) -> list[Tile]:
    """Cores of at most ``tile`` pixels a side covering the image; ``tile`` 0 is one core, untiled."""
    if tile <= 0:
        return [Tile(0, 0, height, width)]
    rows = math.ceil(height / tile)
    cols = math.ceil(width / tile)
    # Equal-sized cores (rather than full tiles and a sliver) keep every window about the same cost.
    ys = [round(i * height / rows) for i in range(rows + 1)]
    xs = [round(j * width / cols) for j in range(cols + 1)]
    return [
        Tile(ys[i], xs[j], ys[i + 1] - ys[i], xs[j + 1] - xs[j]) for i in range(rows) for j in range(cols)
    ]


def _window_size(core_h: int, core_w: int, margin: int, multiple_of: int, minimum: int, square: bool):
    def fit(side: int) -> int:
        side = max(side, minimum)
        return -(-side // multiple_of) * multiple_of

    height, width = fit(core_h + 2 * margin), fit(core_w + 2 * margin)
    if square:
        height = width = fit(max(height, width))
    return height, width


def upscale_tiled(
    pixels: np.ndarray,
    network: Callable[[torch.Tensor], torch.Tensor],
    scale: int,
    *,
    tile: int,
    margin: int = DEFAULT_MARGIN,
    multiple_of: int = 1,
    minimum: int = 1,
    square: bool = False,
    on_tile: Callable[[int, int], None] | None = None,
    check_cancel: Callable[[], None] | None = None,
) -> np.ndarray:
    """One SR pass over an (H, W, 3) uint8 panorama → (s·H, s·W, 3) uint8, in seam-aware tiles.

    ``network`` takes (1, 3, h, w) float RGB in 0…1 and returns (1, 3, s·h, s·w).
    """
    height, width = pixels.shape[:2]
    margin = max(0, min(margin, height, width // 2))
    tiles = plan_tiles(height, width, tile)
    windows = [_window_size(t.height, t.width, margin, multiple_of, minimum, square) for t in tiles]
    grow_h = max(wh - t.height - 2 * margin for t, (wh, _) in zip(tiles, windows, strict=True))
    grow_w = max(ww - t.width - 2 * margin for t, (_, ww) in zip(tiles, windows, strict=True))
    if margin + grow_h > height or margin + grow_w > width:
        raise ValueError(
            f"the {width}×{height} panorama is smaller than this model's smallest input; upscale a larger one"
        )
    padded = pole_wrap_pad(pixels, margin, margin + grow_h, margin, margin + grow_w)
    out = np.empty((height * scale, width * scale, 3), dtype=np.uint8)
    for index, (core, (win_h, win_w)) in enumerate(zip(tiles, windows, strict=True)):
        if check_cancel is not None:
            check_cancel()
        window = padded[core.y : core.y + win_h, core.x : core.x + win_w]
        tensor = torch.from_numpy(np.ascontiguousarray(window)).permute(2, 0, 1)[None].float() / 255.0
        result = network(tensor)
        expected = (1, 3, win_h * scale, win_w * scale)
        if tuple(result.shape) != expected:
            raise ValueError(
                f"the network returned shape {tuple(result.shape)} for a window; expected {expected}"
            )
        top, left = margin * scale, margin * scale
        core_out = result[0, :, top : top + core.height * scale, left : left + core.width * scale]
        values = (core_out.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        out[
            core.y * scale : (core.y + core.height) * scale, core.x * scale : (core.x + core.width) * scale
        ] = values
        del tensor, result, core_out
        if on_tile is not None:
            on_tile(index + 1, len(tiles))
    return out
