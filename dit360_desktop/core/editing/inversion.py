"""RF-inversion of a panorama (Rout et al. 2024, "Semantic Image Inversion and Editing using Rectified
Stochastic Differential Equations", arXiv:2410.10792, Algorithm 1), as DiT360's ``editing.py`` runs it.

The controlled forward ODE moves the clean latent Y towards a target noise y1:
    dY = [u(Y, t) + γ·(u_cond − u(Y, t))] dt,   u_cond = (y1 − Y) / (1 − t)
with t_i = i / (N + 1) and dt = σ_i − σ_{i+1}, the scheduler's shifted sigmas with a final 0. The
published script uses γ = 1, where the model's field u cancels out; then no transformer call is needed
and the result is the same numbers (to rounding) in no time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

from dit360_desktop.core.codecs import PromptEmbeds, horizontal_wrap
from dit360_desktop.core.sampler import calculate_shift, translate_oom


@torch.no_grad()
def encode_posterior_sample(vae, pixels: torch.Tensor, generator: torch.Generator, *, seamless: bool):
    """Scaled latents from one draw of the VAE posterior, mean + std·ε, with ε from ``generator``.

    The published pipeline calls ``latent_dist.sample()`` with the global RNG; drawing ε on the CPU from a
    dedicated generator seeded the same way gives the same numbers without touching the global RNG.
    """
    context = horizontal_wrap(vae.encoder) if seamless else contextlib.nullcontext()
    with context, translate_oom():
        posterior = vae.encode(pixels.to(dtype=vae.dtype), return_dict=False)[0]
    epsilon = torch.randn(posterior.mean.shape, generator=generator, dtype=torch.float32)
    sample = posterior.mean + posterior.std * epsilon.to(
        device=posterior.mean.device, dtype=posterior.mean.dtype
    )
    return (sample - vae.config.shift_factor) * vae.config.scaling_factor


def inversion_sigmas(scheduler_config: dict, steps: int, image_seq_len: int, device) -> torch.Tensor:
    """The N + 1 sigmas (ending in 0) of the published pipeline: ``mu`` from the unpadded token count."""
    import numpy as np
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler.from_config(scheduler_config)
    scheduler.set_timesteps(
        sigmas=np.linspace(1.0, 1 / steps, steps),
        device=device,
        mu=calculate_shift(image_seq_len, scheduler_config),
    )
    return scheduler.sigmas


@torch.no_grad()
def rf_invert(
    clean: torch.Tensor,
    target_noise: torch.Tensor,
    sigmas: torch.Tensor,
    *,
    gamma: float = 1.0,
    velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    check_cancel: Callable[[], None] = lambda: None,
) -> torch.Tensor:
    """Run the controlled forward ODE from ``clean`` (padded tokens) to the inverted latent.

    ``velocity(Y, t)`` is the model's unconditional field; it is only needed when γ ≠ 1.
    """
    if gamma != 1.0 and velocity is None:
        raise ValueError("RF-inversion with gamma != 1 needs the model's velocity")
    latent = clean
    count = len(sigmas)  # N + 1: the scheduler's sigmas end in 0
    for i in range(count - 1):
        check_cancel()
        t_i = torch.tensor(i / count, dtype=latent.dtype, device=latent.device)
        conditional = (target_noise - latent) / (1 - t_i)
        if gamma == 1.0:
            field = conditional
        else:
            unconditional = velocity(latent, t_i)
            field = unconditional + gamma * (conditional - unconditional)
        latent = latent + field * (sigmas[i] - sigmas[i + 1])
    return latent


def model_velocity(transformer, embeds: PromptEmbeds, img_ids: torch.Tensor, guidance: float):
    """The transformer as ``rf_invert``'s velocity: timestep t_i as given, the source guidance."""
    guidance_tensor = None
    if transformer.config.guidance_embeds:
        guidance_tensor = torch.full([1], guidance, dtype=torch.float32, device=img_ids.device)

    def call(latent: torch.Tensor, t_i: torch.Tensor) -> torch.Tensor:
        with translate_oom():
            return transformer(
                hidden_states=latent,
                timestep=t_i.reshape(1).expand(latent.shape[0]),
                guidance=guidance_tensor,
                pooled_projections=embeds.pooled,
                encoder_hidden_states=embeds.t5,
                txt_ids=embeds.text_ids,
                img_ids=img_ids,
                return_dict=False,
            )[0]

    return call
