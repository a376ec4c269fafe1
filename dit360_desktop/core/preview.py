"""Cheap live previews: a linear latent→RGB projection, calibrated once from the loaded VAE.

Published factors exist for the FLUX VAE, but a fit from the VAE itself works for any latent width
(the tiny test VAEs included) and costs one small encode at load time.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dit360_desktop.core.padding import unpack_latents
from dit360_desktop.panorama.errors import ModelInvalidError


class LatentPreviewer:
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, *, scaling: float, shift: float) -> None:
        self.weight = weight  # (3, C)
        self.bias = bias  # (3,)
        self.scaling = scaling
        self.shift = shift

    @classmethod
    @torch.no_grad()
    def calibrate(cls, vae, *, size: int = 128, seed: int = 0) -> LatentPreviewer:
        """Fit RGB ≈ W·z + b on two kinds of pairs: smooth colour fields encoded by the VAE, and
        unit-variance latents (what the sampler's predictions look like early on) decoded by it."""
        generator = torch.Generator().manual_seed(seed)
        factor = 2 ** (len(vae.config.block_out_channels) - 1)
        device = next(vae.parameters()).device
        scaling, shift = float(vae.config.scaling_factor), float(vae.config.shift_factor)

        coarse = torch.rand(4, 3, 4, 4, generator=generator)
        pixels = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
        posterior = vae.encode((pixels * 2 - 1).to(device=device, dtype=vae.dtype), return_dict=False)[0]
        encoded = posterior.mode().float().cpu()
        encoded_rgb = F.avg_pool2d(pixels, factor)

        channels = encoded.shape[1]
        side = size // factor
        noise = torch.randn(4, channels, side, side, generator=generator) / scaling + shift
        decoded = vae.decode(noise.to(device=device, dtype=vae.dtype), return_dict=False)[0].float().cpu()
        decoded_rgb = F.avg_pool2d((decoded * 0.5 + 0.5).clamp(0, 1), factor)

        if not (torch.isfinite(encoded).all() and torch.isfinite(decoded).all()):
            # lstsq would fail on the NaNs with a linear-algebra error; the real problem is the weights.
            raise ModelInvalidError(
                "The VAE gives NaN or infinite values for a plain test image: its weights (vae/ in the model "
                "folder) are damaged or not a FLUX VAE. Verify or download the model again."
            )
        latents = torch.cat([encoded, noise])
        targets = torch.cat([encoded_rgb, decoded_rgb])
        design = latents.permute(0, 2, 3, 1).reshape(-1, channels)
        design = torch.cat([design, torch.ones(design.shape[0], 1)], dim=1)
        rgb = targets.permute(0, 2, 3, 1).reshape(-1, 3)
        solution = torch.linalg.lstsq(design.double(), rgb.double()).solution.float()  # (C+1, 3)
        return cls(solution[:-1].T.contiguous(), solution[-1].contiguous(), scaling=scaling, shift=shift)

    @torch.no_grad()
    def project(self, latents: torch.Tensor) -> np.ndarray:
        """(1, C, h, w) scaled latents → (h, w, 3) uint8."""
        raw = latents[0].float() / self.scaling + self.shift
        weight = self.weight.to(raw.device)
        bias = self.bias.to(raw.device)
        rgb = torch.einsum("oc,chw->hwo", weight, raw) + bias
        return (rgb.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()

    def project_tokens(self, tokens: torch.Tensor, height: int, width: int) -> np.ndarray:
        return self.project(unpack_latents(tokens[:1], height, width))
