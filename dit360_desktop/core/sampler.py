"""The DiT360 denoising loop on diffusers' FluxTransformer2DModel and FlowMatchEulerDiscreteScheduler.

Numbered like diffusers' ``pipeline_flux.py``; the padding and schedule follow DiT360's ``src/pipeline.py``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from dit360_desktop.core.codecs import PromptEmbeds
from dit360_desktop.core.padding import crop_pad_tokens, rewrap_pad_tokens
from dit360_desktop.panorama.errors import OutOfMemoryError


def calculate_shift(image_seq_len: int, config: dict) -> float:
    """The linear resolution shift ``mu`` of FLUX, from the scheduler's own config."""
    base_len = config.get("base_image_seq_len", 256)
    max_len = config.get("max_image_seq_len", 4096)
    base_shift = config.get("base_shift", 0.5)
    max_shift = config.get("max_shift", 1.15)
    slope = (max_shift - base_shift) / (max_len - base_len)
    return image_seq_len * slope + (base_shift - slope * base_len)


def make_scheduler(
    config: dict, steps: int, padded_seq_len: int, device: torch.device, strength: float = 1.0
):
    """A fresh scheduler with DiT360's sigmas; returns (scheduler, timesteps, first step index)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler.from_config(config)
    sigmas = np.linspace(1.0, 1 / steps, steps)
    scheduler.set_timesteps(sigmas=sigmas, device=device, mu=calculate_shift(padded_seq_len, config))
    timesteps = scheduler.timesteps
    start = 0
    if strength < 1.0:
        # As diffusers' FluxImg2ImgPipeline.get_timesteps: skip the first (1 - strength) of the schedule.
        init_steps = min(steps * strength, steps)
        start = int(max(steps - init_steps, 0))
        timesteps = timesteps[start * scheduler.order :]
        scheduler.set_begin_index(start * scheduler.order)
    return scheduler, timesteps, start


@dataclass
class DenoiseInputs:
    tokens: torch.Tensor  # (1, rows·(cols+2), 4C), already wrap-padded
    img_ids: torch.Tensor  # (rows·(cols+2), 3)
    cond: PromptEmbeds
    uncond: PromptEmbeds | None
    guidance: float
    true_cfg_scale: float
    rows: int
    cols: int
    rewrap_each_step: bool

    @classmethod
    def for_request(cls, tokens, img_ids, cond, uncond, request, geometry) -> DenoiseInputs:
        """The loop's inputs for a request (generation or blend edit) on ``geometry``'s token grid."""
        return cls(
            tokens=tokens,
            img_ids=img_ids,
            cond=cond,
            uncond=uncond,
            guidance=request.guidance,
            true_cfg_scale=request.true_cfg_scale,
            rows=geometry.rows,
            cols=geometry.cols,
            rewrap_each_step=request.rewrap_each_step,
        )


StepCallback = Callable[[int, int, float, torch.Tensor], None]


@dataclass(frozen=True)
class StepInfo:
    index: int  # 0-based step of this run
    total: int
    t: torch.Tensor  # the scheduler's timestep (0..1000)
    sigma: float  # the sigma this step starts from


class DenoiseHook:
    """One way a task changes the one denoising loop; every method's default leaves the loop as it is.

    - ``attach``: a context held for the whole loop (swapping attention processors: token replacement,
      regional prompts);
    - ``before_step``: state the model call reads this step (a processor's clock);
    - ``model_input``: the transformer's ``hidden_states`` from the state (control latents concatenated on
      the channel axis; the state may be a CFG batch of two, so expand to its batch);
    - ``attention_kwargs``: entries of ``joint_attention_kwargs`` for this step's model calls;
    - ``prompt``: the text stream of this step's model calls from the prompt's (regional prompts append
      their own tokens while they act);
    ``attention_kwargs`` and ``prompt`` get ``negative``, one flag per batch item of the call: True where
    the item is true CFG's negative pass (batched CFG: the second half of the batch).
    - ``after_step``: the state after the Euler step (``stepped``), given the state before it and the
      velocity (pinning kept latents, the reference method's coupled items, masks).
    """

    def attach(self, transformer) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def before_step(self, step: StepInfo, tokens: torch.Tensor) -> None:
        return None

    def model_input(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens

    def attention_kwargs(self, step: StepInfo, negative: tuple[bool, ...]) -> dict:
        return {}

    def prompt(self, step: StepInfo, embeds: PromptEmbeds, negative: tuple[bool, ...]) -> PromptEmbeds:
        return embeds

    def after_step(
        self, step: StepInfo, previous: torch.Tensor, velocity: torch.Tensor, stepped: torch.Tensor
    ) -> torch.Tensor:
        return stepped


class Denoiser:
    """Runs the Euler loop; ``batched_cfg`` puts the conditional and negative passes in one call."""

    def __init__(self, transformer, *, batched_cfg: bool = True) -> None:
        self.transformer = transformer
        self.batched_cfg = batched_cfg

    @torch.no_grad()
    def run(
        self,
        inputs: DenoiseInputs,
        scheduler,
        timesteps: torch.Tensor,
        *,
        first_index: int,
        check_cancel: Callable[[], None],
        on_step: StepCallback | None = None,
        hooks: Sequence[DenoiseHook] = (),
        preview_item: int = 0,
    ) -> torch.Tensor:
        """The padded state after the last step; ``on_step`` gets the predicted clean state of batch item
        ``preview_item``."""
        tokens = inputs.tokens
        guidance = None
        if self.transformer.config.guidance_embeds:
            guidance = torch.full([1], inputs.guidance, device=tokens.device, dtype=torch.float32)
        total = len(timesteps)
        started = time.perf_counter()
        with contextlib.ExitStack() as stack:
            for hook in hooks:
                stack.enter_context(hook.attach(self.transformer))
            for i, t in enumerate(timesteps):
                # 1. Cancel between steps, never inside a transformer call.
                check_cancel()
                sigma = float(scheduler.sigmas[first_index + i])
                step = StepInfo(index=i, total=total, t=t, sigma=sigma)
                for hook in hooks:
                    hook.before_step(step, tokens)
                # 2. Velocity, with true CFG when a negative prompt is given.
                velocity = self._velocity(tokens, t, guidance, inputs, _StepCall(hooks, step))
                # 3. Euler step: the scheduler upcasts to fp32 internally and casts back.
                previous = tokens
                tokens = scheduler.step(velocity, t, tokens, return_dict=False)[0]
                # 4. Optional re-sync of the pad columns (off in the reference).
                if inputs.rewrap_each_step:
                    tokens = rewrap_pad_tokens(tokens, inputs.rows, inputs.cols)
                for hook in hooks:
                    tokens = hook.after_step(step, previous, velocity, tokens)
                if on_step is not None:
                    item = slice(preview_item, preview_item + 1)
                    predicted = _predicted_clean(previous[item], velocity[item], sigma)
                    on_step(i + 1, total, time.perf_counter() - started, predicted)
        return tokens

    def _velocity(self, tokens, t, guidance, inputs: DenoiseInputs, call: _StepCall) -> torch.Tensor:
        if inputs.uncond is None or inputs.true_cfg_scale <= 1.0:
            return self._call(tokens, t, guidance, inputs.cond, inputs.img_ids, call)
        if self.batched_cfg:
            try:
                both = self._call_batched(tokens, t, guidance, inputs, call)
            except OutOfMemoryError:
                # The batched call needs twice the activations; two calls fit where one may not.
                self.batched_cfg = False
            else:
                cond, uncond = both.chunk(2)
                return uncond + inputs.true_cfg_scale * (cond - uncond)
        cond = self._call(tokens, t, guidance, inputs.cond, inputs.img_ids, call)
        uncond = self._call(tokens, t, guidance, inputs.uncond, inputs.img_ids, call, context="uncond")
        return uncond + inputs.true_cfg_scale * (cond - uncond)

    def _call(
        self, tokens, t, guidance, embeds: PromptEmbeds, img_ids, call: _StepCall, context: str = "cond"
    ):
        batch = tokens.shape[0]
        timestep = t.expand(batch).to(tokens.dtype)
        if context == "batched":
            negative = (False,) * (batch // 2) + (True,) * (batch // 2)
        else:
            negative = (context == "uncond",) * batch
        embeds = call.prompt(embeds, negative)
        with translate_oom(), _cache_context(self.transformer, context):
            return self.transformer(
                hidden_states=call.model_input(tokens),
                timestep=timestep / 1000,
                guidance=guidance.expand(batch) if guidance is not None else None,
                pooled_projections=embeds.pooled,
                encoder_hidden_states=embeds.t5,
                txt_ids=embeds.text_ids,
                img_ids=img_ids,
                joint_attention_kwargs=call.attention_kwargs(negative),
                return_dict=False,
            )[0]

    def _call_batched(self, tokens, t, guidance, inputs: DenoiseInputs, call: _StepCall) -> torch.Tensor:
        # Text ids are all zeros for both prompts, so one txt_ids serves the batch.
        both = PromptEmbeds(
            t5=torch.cat([inputs.cond.t5, inputs.uncond.t5]),
            pooled=torch.cat([inputs.cond.pooled, inputs.uncond.pooled]),
            text_ids=inputs.cond.text_ids,
        )
        doubled = torch.cat([tokens, tokens])
        return self._call(doubled, t, guidance, both, inputs.img_ids, call, context="batched")


class _StepCall:
    """The hooks' contributions to one step's transformer calls."""

    def __init__(self, hooks: Sequence[DenoiseHook], step: StepInfo) -> None:
        self.hooks = hooks
        self.step = step

    def model_input(self, tokens: torch.Tensor) -> torch.Tensor:
        for hook in self.hooks:
            tokens = hook.model_input(tokens)
        return tokens

    def prompt(self, embeds: PromptEmbeds, negative: tuple[bool, ...]) -> PromptEmbeds:
        for hook in self.hooks:
            embeds = hook.prompt(self.step, embeds, negative)
        return embeds

    def attention_kwargs(self, negative: tuple[bool, ...]) -> dict:
        merged: dict = {}
        for hook in self.hooks:
            merged.update(hook.attention_kwargs(self.step, negative))
        return merged


def _cache_context(transformer, name: str):
    # diffusers' step-cache hooks (``step_cache.py``) keep state per named call and refuse calls outside one.
    if getattr(transformer, "is_cache_enabled", False):
        return transformer.cache_context(name)
    return contextlib.nullcontext()


def _predicted_clean(tokens: torch.Tensor, velocity: torch.Tensor, sigma: float) -> torch.Tensor:
    # Rectified flow: x_t = (1 - σ)·x0 + σ·ε and v = ε - x0, so x0 = x_t - σ·v.
    return tokens - sigma * velocity


def drop_pads(tokens: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    return crop_pad_tokens(tokens, rows, cols)


class translate_oom:
    """Turn the backends' out-of-memory exceptions into our typed error."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            return False
        if is_oom(exc):
            raise OutOfMemoryError(
                "The device ran out of memory. Close other GPU programs, lower the size or steps, "
                "or choose a lower memory tier in the settings."
            ) from exc
        return False


def is_oom(exc: BaseException) -> bool:
    oom_types = tuple(
        t
        for t in (getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None))
        if t
    )
    if oom_types and isinstance(exc, oom_types):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
