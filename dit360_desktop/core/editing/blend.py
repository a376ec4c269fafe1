"""Our masked edit ("blend"): one denoising run that regenerates the mask and keeps the rest exactly.

- Known latents stay on their own trajectory: after every step, wherever a latent pixel is not yet
  released, the state is replaced by the input latent re-noised to the step's sigma with the run's noise,
  (1 − σ)·x0 + σ·ε (blended latent diffusion, Avrahami et al. 2023; RePaint, Lugmayr et al. 2022).
- Grey mask values are per-pixel strengths (differential diffusion, Levin & Fried 2024): a latent pixel of
  strength s is released once the sigma falls below s, so it changes as much as img2img at strength s.
- Small masks start from the input re-noised at the request's strength (inpainting); when a large share
  of the panorama is regenerated the run starts from pure noise (outpainting), and a band of kept latents
  around the region is released late, so the new content and its surroundings agree.
- Everything is done on the sphere: the strength map and the state share the circular wrap padding, and
  the final composite feathers across the 0/360° seam (``panorama.mask``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dit360_desktop.core.editing.mask import harmonisation_band, latent_strength, strength_tokens
from dit360_desktop.core.sampler import DenoiseHook, StepInfo

# Regenerating more than this share of the panorama (mask ≥ 0.5) is outpainting: start from noise.
OUTPAINT_SHARE = 1.0 / 3.0
# The harmonisation band: kept latents this close (latent pixels) to the edit are released at this sigma.
BAND_WIDTH = 2
BAND_STRENGTH = 0.3


@dataclass(frozen=True)
class BlendPlan:
    strength_map: np.ndarray  # (h, w) latent strength in 0..1
    strength: float  # where the schedule starts
    outpaint: bool
    regenerated_share: float


def plan_blend(mask: np.ndarray, alpha: np.ndarray, request_strength: float) -> BlendPlan:
    """Decide inpaint or outpaint and the latent strength map from the pixel mask and composite weight."""
    share = float((mask >= 0.5).mean())
    outpaint = share > OUTPAINT_SHARE
    strength = 1.0 if outpaint else float(request_strength)
    regenerated = latent_strength(alpha)
    strength_map = strength * regenerated
    band = harmonisation_band(regenerated, BAND_WIDTH)
    strength_map = np.where(band, BAND_STRENGTH * strength, strength_map).astype(np.float32)
    return BlendPlan(strength_map, strength, outpaint, share)


class KnownRegionPin(DenoiseHook):
    """A hook of the denoising loop: after each step, re-pins every not-yet-released latent to its
    trajectory."""

    def __init__(
        self,
        clean: torch.Tensor,
        noise: torch.Tensor,
        plan: BlendPlan,
        scheduler,
        first_index: int,
        *,
        rows: int,
        cols: int,
    ) -> None:
        self.clean = clean
        self.noise = noise
        self.scheduler = scheduler
        self.first_index = first_index
        self.strength = strength_tokens(
            plan.strength_map, clean.shape[-1] // 4, rows, cols, device=clean.device, dtype=torch.float32
        )

    def known_at(self, sigma: float) -> torch.Tensor:
        return (1.0 - sigma) * self.clean + sigma * self.noise

    def __call__(self, index: int, tokens: torch.Tensor) -> torch.Tensor:
        sigma = float(self.scheduler.sigmas[self.first_index + index + 1])
        released = self.strength > sigma
        return torch.where(released, tokens, self.known_at(sigma).to(tokens.dtype))

    def after_step(
        self, step: StepInfo, previous: torch.Tensor, velocity: torch.Tensor, stepped: torch.Tensor
    ) -> torch.Tensor:
        return self(step.index, stepped)
