"""The published DiT360 editing sampler (``editing.py`` + ``pa_src``), on our transformer and scheduler.

A batch of two runs together: item 0 reconstructs the source from its RF-inverted latent (source prompt),
item 1 is the edit (fresh seeded noise, edit prompt). Three couplings keep item 1 on the source where the
mask says keep:
1. token replacement ("Personalize Anything", arXiv:2503.12590): in every attention layer, while the
   timestep is above tau, item 1's hidden states at kept tokens are overwritten with item 0's before the
   Q/K/V projections;
2. a latent blend after every step whose timestep is at least 0.5:
   latents[1] = latents[1]·(1 − keep) + latents[0]·keep;
3. item 0 follows the controlled reverse ODE of RF-inversion (arXiv:2410.10792, Algorithm 2) with η = 1
   on steps i < int(0.99·N), which pins it to y0 + σ·(inverted − y0); its last step is a plain Euler step.
The published quirks are kept: ``mu`` comes from the unpadded token count, the keep mask's wrap columns
repeat its own edge columns, and the guidance is whatever the caller passes (editing.py's runs at 3.5).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from dit360_desktop.core.codecs import PromptEmbeds
from dit360_desktop.core.sampler import calculate_shift, translate_oom

# pa_src's pipeline blends the latents while the step's timestep is at least this (hard-coded there).
LATENT_BLEND_UNTIL = 0.5
# Steps i < int(STOP_FRACTION · N) pull item 0 towards the source (editing.py: stop_timestep=0.99, eta=1).
STOP_FRACTION = 0.99


@dataclass
class ReplacementClock:
    """The current step's timestep in 0..1, shared by every processor of one run."""

    tau: float
    timestep: float = 1.0

    @property
    def active(self) -> bool:
        return self.timestep > self.tau


class TokenReplacementProcessor:
    """Wraps a Flux attention processor: copies item 0's hidden states into item 1 at the kept tokens
    while the clock is active, then runs the original processor unchanged.

    Dual-stream layers get image tokens only; single-stream layers get text then image tokens, so the
    image tokens are the last ``len(keep)`` of the sequence.
    """

    def __init__(self, inner, keep: torch.Tensor, clock: ReplacementClock) -> None:
        self.inner = inner
        self.keep = keep
        self.clock = clock

    def __call__(
        self,
        attn,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        image_rotary_emb=None,
    ):
        if self.clock.active:
            hidden_states = hidden_states.clone()
            image = hidden_states[:, hidden_states.shape[1] - self.keep.shape[0] :]
            image[1, self.keep] = image[0, self.keep]
        return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, image_rotary_emb)


@contextlib.contextmanager
def token_replacement(transformer, keep: torch.Tensor, clock: ReplacementClock) -> Iterator[None]:
    """Install the replacement on every attention layer for the duration of the block."""
    originals = dict(transformer.attn_processors)
    # ``keep`` is on the device the hidden states are on (with offloading, not where the weights rest).
    keep = keep.reshape(-1).bool()
    transformer.set_attn_processor(
        {name: TokenReplacementProcessor(processor, keep, clock) for name, processor in originals.items()}
    )
    try:
        yield
    finally:
        transformer.set_attn_processor(originals)


@dataclass
class ReferenceInputs:
    inverted: torch.Tensor  # (1, L, D) padded tokens from RF-inversion
    clean: torch.Tensor  # (1, L, D) padded tokens of the encoded source (y0)
    noise: torch.Tensor  # (1, L, D) padded seeded noise for the edited item
    img_ids: torch.Tensor
    source: PromptEmbeds
    edit: PromptEmbeds
    keep: torch.Tensor  # (L, 1) float, 1 = keep
    guidance: float
    tau: float  # 0..1
    image_seq_len: int  # unpadded token count, for mu


StepCallback = Callable[[int, int, float, torch.Tensor], None]


def reference_schedule(scheduler_config: dict, steps: int, image_seq_len: int, device):
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler.from_config(scheduler_config)
    scheduler.set_timesteps(
        sigmas=np.linspace(1.0, 1 / steps, steps),
        device=device,
        mu=calculate_shift(image_seq_len, scheduler_config),
    )
    scheduler.set_begin_index(0)
    return scheduler


@torch.no_grad()
def run_reference(
    transformer,
    scheduler,
    inputs: ReferenceInputs,
    *,
    check_cancel: Callable[[], None],
    on_step: StepCallback | None = None,
) -> torch.Tensor:
    """The two-item loop; returns both items' final padded tokens, (2, L, D)."""
    timesteps = scheduler.timesteps
    sigmas = scheduler.sigmas
    total = len(timesteps)
    stop = min(int(STOP_FRACTION * total), total)
    latents = torch.cat([inputs.inverted, inputs.noise])
    embeds_t5 = torch.cat([inputs.source.t5, inputs.edit.t5])
    pooled = torch.cat([inputs.source.pooled, inputs.edit.pooled])
    guidance = None
    if transformer.config.guidance_embeds:
        guidance = torch.full([1], inputs.guidance, device=latents.device, dtype=torch.float32).expand(2)
    keep = inputs.keep.to(device=latents.device, dtype=latents.dtype)
    clock = ReplacementClock(tau=inputs.tau)
    started = time.perf_counter()
    with token_replacement(transformer, keep, clock):
        for i, t in enumerate(timesteps):
            check_cancel()
            timestep = t.expand(2).to(latents.dtype)
            clock.timestep = timestep[0].item() / 1000
            with translate_oom():
                velocity = transformer(
                    hidden_states=latents,
                    timestep=timestep / 1000,
                    guidance=guidance,
                    pooled_projections=pooled,
                    encoder_hidden_states=embeds_t5,
                    txt_ids=inputs.edit.text_ids,
                    img_ids=inputs.img_ids,
                    return_dict=False,
                )[0]
            # Item 0: controlled reverse ODE towards the source; Item 1: the scheduler's Euler step.
            t_i = 1 - t / 1000
            model_field = -velocity[:1]
            source_field = (inputs.clean - latents[:1]) / (1 - t_i)
            eta = 1.0 if i < stop else 0.0
            field = model_field + eta * (source_field - model_field)
            source = latents[:1] + field * (sigmas[i] - sigmas[i + 1])
            edited = scheduler.step(velocity[1:], t, latents[1:], return_dict=False)[0]
            if timestep[1].item() / 1000 >= LATENT_BLEND_UNTIL:
                edited = edited * (1.0 - keep) + source * keep
            sigma = float(sigmas[i])
            predicted = latents[1:] - sigma * velocity[1:]
            latents = torch.cat([source, edited])
            if on_step is not None:
                on_step(i + 1, total, time.perf_counter() - started, predicted)
    return latents
