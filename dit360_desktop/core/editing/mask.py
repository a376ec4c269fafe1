"""Edit masks on the latent and token grids: the published method's token mask, and our per-latent strength.

Both return tensors laid out like the denoising state: packed 2×2 patches, wrap-padded to
rows × (cols + 2) tokens.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from dit360_desktop.core.padding import pack_latents, wrap_pad_tokens
from dit360_desktop.panorama.mask import dilate, max_filter

# The latent is 8× smaller than the picture (FLUX's VAE), tokens are 2×2 latent pixels.
LATENT_FACTOR = 8


def reference_keep_tokens(user_mask: Image.Image, rows: int, cols: int) -> torch.Tensor:
    """The token mask of DiT360's ``editing.py``: (rows·(cols+2), 1) float, 1 = keep the source there.

    The user's mask (white = regenerate) is inverted into the published convention (255 = keep), resized
    to the cols × rows token grid with nearest-neighbour sampling as ``pa_src.utils.create_mask`` does, and
    only exactly 255 counts as keep. The wrap columns repeat the mask's own first and last columns (not the
    circular neighbours the latents get): ``torch.cat([mask[:, 0:1], mask, mask[:, -1:]])`` in editing.py.
    """
    inverted = Image.eval(user_mask.convert("L"), lambda value: 255 - value)
    grid = np.asarray(inverted.resize((cols, rows), Image.Resampling.NEAREST))
    keep = torch.from_numpy((grid == 255).astype(np.int64)).float()
    keep = torch.cat([keep[:, 0:1], keep, keep[:, -1:]], dim=-1)
    return keep.reshape(-1, 1)


def latent_strength(alpha: np.ndarray, *, grow: int = 1) -> np.ndarray:
    """Per latent pixel, how much of the picture above it is regenerated: the max of the composite
    weight over its 8×8 block, grown by ``grow`` latent pixels on the sphere so that the decoder's reach
    past a block edge is regenerated too."""
    height, width = alpha.shape
    if height % LATENT_FACTOR or width % LATENT_FACTOR:
        raise ValueError(f"the mask size must be a multiple of {LATENT_FACTOR} (got {width}×{height})")
    blocks = alpha.reshape(height // LATENT_FACTOR, LATENT_FACTOR, width // LATENT_FACTOR, LATENT_FACTOR)
    return max_filter(blocks.max(axis=(1, 3)), grow)


def harmonisation_band(strength: np.ndarray, width: int) -> np.ndarray:
    """The kept latent pixels within ``width`` of the regenerated region (on the sphere)."""
    regenerated = strength > 0
    return dilate(regenerated, width) & ~regenerated


def strength_tokens(
    strength: np.ndarray, channels: int, rows: int, cols: int, *, device, dtype
) -> torch.Tensor:
    """A (h, w) per-latent-pixel map laid out as the padded token state (1, rows·(cols+2), 4·channels).

    Wrap padding is circular, like the latents', so the pads follow the pixels they copy."""
    values = torch.from_numpy(np.ascontiguousarray(strength, dtype=np.float32))
    latent = values[None, None].expand(1, channels, *values.shape).contiguous()
    return wrap_pad_tokens(pack_latents(latent), rows, cols).to(device=device, dtype=dtype)
