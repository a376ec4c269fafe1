"""FLUX 2×2 latent packing and DiT360's wrap padding of the token grid.

FLUX turns a (B, C, h, w) latent into (h/2)·(w/2) tokens of 4C features in (C, 2, 2) order, row-major
(diffusers ``FluxPipeline._pack_latents``). DiT360 then adds one token column on each side of the grid:
the last column on the left and the first column on the right, so attention sees the 0/360° neighbours.
Position ids are padded the same way; the pads carry the ids of the columns they copy.
Reference: Insta360-Research-Team/DiT360, ``src/pipeline.py`` (the ``###`` blocks around step 4).
"""

from __future__ import annotations

import torch


def pack_latents(latents: torch.Tensor) -> torch.Tensor:
    batch, channels, height, width = latents.shape
    tokens = latents.view(batch, channels, height // 2, 2, width // 2, 2)
    tokens = tokens.permute(0, 2, 4, 1, 3, 5)
    return tokens.reshape(batch, (height // 2) * (width // 2), channels * 4)


def unpack_latents(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Inverse of ``pack_latents``; ``height`` and ``width`` are the latent (not pixel) sizes."""
    batch, _, features = tokens.shape
    channels = features // 4
    latents = tokens.view(batch, height // 2, width // 2, channels, 2, 2)
    latents = latents.permute(0, 3, 1, 4, 2, 5)
    return latents.reshape(batch, channels, height, width)


def latent_image_ids(rows: int, cols: int, *, device=None, dtype=None) -> torch.Tensor:
    """Position ids (0, i, j) for token (i, j), flattened row-major to (rows·cols, 3)."""
    ids = torch.zeros(rows, cols, 3)
    ids[..., 1] = ids[..., 1] + torch.arange(rows)[:, None]
    ids[..., 2] = ids[..., 2] + torch.arange(cols)[None, :]
    return ids.reshape(rows * cols, 3).to(device=device, dtype=dtype)


def wrap_pad_tokens(tokens: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """(B, rows·cols, D) → (B, rows·(cols+2), D) with the wrapped columns added."""
    batch, _, features = tokens.shape
    grid = tokens.reshape(batch, rows, cols, features)
    grid = torch.cat([grid[:, :, -1:], grid, grid[:, :, :1]], dim=2)
    return grid.reshape(batch, rows * (cols + 2), features)


def wrap_pad_ids(ids: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    grid = ids.reshape(rows, cols, 3)
    grid = torch.cat([grid[:, -1:], grid, grid[:, :1]], dim=1)
    return grid.reshape(rows * (cols + 2), 3)


def crop_pad_tokens(tokens: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """Drop the two pad columns: (B, rows·(cols+2), D) → (B, rows·cols, D)."""
    batch, _, features = tokens.shape
    grid = tokens.reshape(batch, rows, cols + 2, features)[:, :, 1:-1]
    return grid.reshape(batch, rows * cols, features)


def rewrap_pad_tokens(tokens: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """Overwrite the pads with fresh copies of the source columns (our optional per-step re-sync)."""
    return wrap_pad_tokens(crop_pad_tokens(tokens, rows, cols), rows, cols)
