"""The published DiT360 editing sampler (``editing.py`` + ``pa_src``), on our transformer and scheduler.

A batch of two runs together through the one denoising loop (``sampler.Denoiser``): item 0 reconstructs
the source from its RF-inverted latent (source prompt), item 1 is the edit (fresh seeded noise, edit
prompt). Three couplings, all in the loop's hook ``ReferenceCoupling``, keep item 1 on the source where
the mask says keep:
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
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from dit360_desktop.core.sampler import DenoiseHook, StepInfo, calculate_shift

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


class ReferenceCoupling(DenoiseHook):
    """The published method's couplings as a hook of the one denoising loop (``sampler.Denoiser``), for a
    state that is a batch of two (item 0 from the inverted latent, item 1 from fresh noise): token
    replacement for the whole loop, then after each Euler step item 0 is replaced by its controlled reverse
    ODE step and item 1 gets the latent blend."""

    def __init__(self, clean: torch.Tensor, keep: torch.Tensor, tau: float, scheduler) -> None:
        self.clean = clean  # (1, L, D) padded tokens of the encoded source (y0)
        # (L, 1) float, 1 = keep; on the state's device, where the hidden states are (not the weights).
        self.keep = keep.to(device=clean.device, dtype=clean.dtype)
        self.sigmas = scheduler.sigmas
        self.clock = ReplacementClock(tau=tau)

    def attach(self, transformer) -> contextlib.AbstractContextManager:
        return token_replacement(transformer, self.keep, self.clock)

    def before_step(self, step: StepInfo, tokens: torch.Tensor) -> None:
        self.clock.timestep = step.t.to(tokens.dtype).item() / 1000

    def after_step(
        self, step: StepInfo, previous: torch.Tensor, velocity: torch.Tensor, stepped: torch.Tensor
    ) -> torch.Tensor:
        i, t = step.index, step.t
        stop = min(int(STOP_FRACTION * step.total), step.total)
        # Item 0: the controlled reverse ODE towards the source; item 1 keeps the scheduler's Euler step.
        t_i = 1 - t / 1000
        model_field = -velocity[:1]
        source_field = (self.clean - previous[:1]) / (1 - t_i)
        eta = 1.0 if i < stop else 0.0
        field = model_field + eta * (source_field - model_field)
        source = previous[:1] + field * (self.sigmas[i] - self.sigmas[i + 1])
        edited = stepped[1:]
        if t.to(previous.dtype).item() / 1000 >= LATENT_BLEND_UNTIL:
            edited = edited * (1.0 - self.keep) + source * self.keep
        return torch.cat([source, edited])
