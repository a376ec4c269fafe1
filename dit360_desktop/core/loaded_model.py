"""The loaded FLUX.1-dev components as the tasks use them: what ``PanoramaEngine.load()`` returns.

Tasks (``core/tasks``) run on this object only: its public methods are the steps every FLUX task shares
(text and image encoding, seeded noise and the DiT360 wrap padding, the schedule, the one denoising loop,
decoding, progress and metadata). It also keeps the record of the run in progress (``RunRecord``: stage
timings, warnings and notes), which ``metadata`` writes into the result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from dit360_desktop.core import tiers
from dit360_desktop.core.codecs import PromptEmbeds, TextEncoder, encode_image, pil_to_pixels, to_uint8_image
from dit360_desktop.core.devices import free_memory
from dit360_desktop.core.geometry import LatentGeometry
from dit360_desktop.core.loading import Components, LoraInfo
from dit360_desktop.core.lora_stack import AppliedLora
from dit360_desktop.core.padding import (
    latent_image_ids,
    pack_latents,
    unpack_latents,
    wrap_pad_ids,
    wrap_pad_tokens,
)
from dit360_desktop.core.preview import LatentPreviewer
from dit360_desktop.core.run_metadata import run_metadata
from dit360_desktop.core.sampler import (
    DenoiseHook,
    DenoiseInputs,
    Denoiser,
    drop_pads,
    make_scheduler,
    translate_oom,
)
from dit360_desktop.panorama.errors import OutOfMemoryError, RequestError
from dit360_desktop.panorama.events import CancelToken, EventCallback, StepEvent
from dit360_desktop.panorama.request import GenerationRequest

log = logging.getLogger(__name__)


@dataclass
class RunRecord:
    """What one run reports besides its picture: seconds per stage, the request's warnings, notes."""

    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Schedule:
    scheduler: Any  # a fresh FlowMatchEulerDiscreteScheduler with DiT360's sigmas
    timesteps: torch.Tensor
    first_index: int  # > 0 when img2img starts part-way


class LoadedModel:
    def __init__(
        self,
        components: Components,
        plan: tiers.TierPlan,
        device: torch.device,
        dtype: torch.dtype,
        text: TextEncoder,
        previewer: LatentPreviewer | None,
        *,
        batched_cfg: bool = True,
    ) -> None:
        self.components = components
        self.plan = plan
        self.device = device
        self.dtype = dtype
        self.text = text
        self.previewer = previewer
        # The LoRAs as applied: the DiT360 one (None: base model only) and the extra ones, for metadata.
        self.lora: LoraInfo | None = None
        self.applied_loras: list[AppliedLora] = []
        # True CFG in one batch; a batch of two that ran out of memory stays unbatched for later runs.
        self.batched_cfg = batched_cfg
        # Why the text encoders were moved to the CPU for good (None: they were not).
        self.text_on_cpu: str | None = None
        self.run = RunRecord()

    # --- the run record ------------------------------------------------------------------------------

    def start_run(
        self,
        warnings: Sequence[str] = (),
        *,
        timings: dict[str, float] | None = None,
        notes: Sequence[str] = (),
    ) -> None:
        self.run = RunRecord(list(warnings), dict(timings or {}), list(notes))

    @contextmanager
    def clock(self, stage: str) -> Iterator[None]:
        """Adds the block's seconds to the run's timing of ``stage``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            timings = self.run.timings
            timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start

    def note(self, text: str) -> None:
        self.run.notes.append(text)

    def metadata(self, request: GenerationRequest) -> dict[str, Any]:
        return run_metadata(
            request,
            folder=self.components.folder,
            lora=self.lora,
            extra_loras=[applied for applied in self.applied_loras if not applied.base],
            device=self.device_name,
            dtype=self.dtype_name,
            memory_tier=self.plan.describe(),
            timings=self.run.timings,
            warnings=[*self.run.warnings, *self.plan.notes, *self.run.notes],
        )

    @property
    def device_name(self) -> str:
        if self.device.type == "cuda":
            return f"cuda ({torch.cuda.get_device_name(self.device)})"
        return self.device.type

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    # --- encoding ------------------------------------------------------------------------------------

    def encode_prompts(self, prompts: Sequence[str]) -> list[PromptEmbeds]:
        """The prompts' embeddings; out of memory on the GPU moves the text encoders to the CPU for good."""
        needed = not all(self.text.is_cached(prompt) for prompt in prompts)
        try:
            with translate_oom(), tiers.text_encoders_on_device(self.components, self.plan, needed):
                return [self.text.encode(prompt, self.device) for prompt in prompts]
        except OutOfMemoryError:
            if self.plan.text_encoders == "cpu":
                raise
        note = "The text encoders ran out of GPU memory; they now run on the CPU (slower, same result)."
        log.warning(note)
        tiers.move_text_encoders_to_cpu(self.components)
        free_memory(self.device)
        self.text_on_cpu = note
        self.plan = self.plan.with_text_on_cpu(note)
        with translate_oom():
            return [self.text.encode(prompt, self.device) for prompt in prompts]

    def encode(self, request: GenerationRequest) -> tuple[PromptEmbeds, PromptEmbeds | None]:
        """The prompt's embeddings, and the negative prompt's when the request uses true CFG."""
        prompts = [request.prompt] + ([request.negative_prompt] if request.uses_true_cfg else [])
        embeds = self.encode_prompts(prompts)
        from dit360_desktop.core.guides.redux import with_reference

        # A reference image's Redux tokens join the prompt's (docs/guides.md); none: unchanged.
        return with_reference(self, request, embeds[0], embeds[1] if len(embeds) > 1 else None)

    def encode_image(self, image: Image.Image, *, seamless: bool) -> torch.Tensor:
        """The scaled (1, C, h, w) latent of a picture, with the tier's VAE tiling."""
        pixels = pil_to_pixels(image, self.device)
        return encode_image(self.components.vae, pixels, seamless=seamless, tiling=self.plan.tiling)

    def decode(self, latent: torch.Tensor, *, seamless: bool) -> np.ndarray:
        """(H, W, 3) uint8 pixels of a (1, C, h, w) latent; a fallback the decode needed becomes a note."""
        with translate_oom():
            decoded, notes = tiers.decode_with_fallback(
                self.components.vae, latent.to(self.device), seamless=seamless, plan=self.plan
            )
        self.run.notes.extend(notes)
        return to_uint8_image(decoded)

    # --- the denoising state -------------------------------------------------------------------------

    def geometry(self, request: GenerationRequest) -> LatentGeometry:
        return LatentGeometry.for_request(self.components.vae, request)

    @property
    def noise_channels(self) -> int:
        # The reference draws in_channels / 4 channels: a token holds a 2×2 patch of them. A Control LoRA
        # doubles in_channels (image + control latents); the noise stays the VAE's latent channels.
        return self.components.vae.config.latent_channels

    def seeded_noise(self, seed: int, geometry: LatentGeometry, dtype: torch.dtype) -> torch.Tensor:
        """(1, C, h, w) noise from a CPU generator: the same seed gives the same panorama on every device."""
        from diffusers.utils.torch_utils import randn_tensor

        generator = torch.Generator("cpu").manual_seed(seed)
        shape = (1, self.noise_channels, geometry.height, geometry.width)
        return randn_tensor(shape, generator=generator, device=self.device, dtype=dtype)

    def padded_tokens(self, latent: torch.Tensor, geometry: LatentGeometry) -> torch.Tensor:
        """A (1, C, h, w) latent as the denoising state: packed 2×2 patches, DiT360-wrap-padded. Control
        latents that are concatenated to the state go through here too, so their pads match."""
        return wrap_pad_tokens(pack_latents(latent), geometry.rows, geometry.cols)

    def padded_noise(self, seed: int, geometry: LatentGeometry, dtype: torch.dtype) -> torch.Tensor:
        return self.padded_tokens(self.seeded_noise(seed, geometry, dtype), geometry)

    def padded_ids(self, geometry: LatentGeometry, dtype: torch.dtype) -> torch.Tensor:
        ids = latent_image_ids(geometry.rows, geometry.cols, device=self.device, dtype=dtype)
        return wrap_pad_ids(ids, geometry.rows, geometry.cols)

    def unpadded_latent(self, tokens: torch.Tensor, geometry: LatentGeometry) -> torch.Tensor:
        """The (1, C, h, w) latent of a padded state (its first batch item), pads dropped."""
        return unpack_latents(
            drop_pads(tokens[:1], geometry.rows, geometry.cols), geometry.height, geometry.width
        )

    def schedule(
        self, request: GenerationRequest, geometry: LatentGeometry, strength: float = 1.0
    ) -> Schedule:
        """DiT360's schedule (``mu`` from the padded sequence length); strength < 1 starts part-way."""
        scheduler, timesteps, first_index = make_scheduler(
            self.components.scheduler_config, request.steps, geometry.padded_seq_len, self.device, strength
        )
        if len(timesteps) == 0:
            raise RequestError(
                "strength", f"{request.strength} leaves no denoising steps; raise strength or steps"
            )
        return Schedule(scheduler, timesteps, first_index)

    # --- the one denoising loop ----------------------------------------------------------------------

    def denoise(
        self,
        inputs: DenoiseInputs,
        schedule: Schedule,
        emit: EventCallback,
        cancel: CancelToken,
        geometry: LatentGeometry,
        *,
        hooks: Sequence[DenoiseHook] = (),
        preview_item: int = 0,
    ) -> torch.Tensor:
        """Every denoising task's loop (``sampler.Denoiser``); ``hooks`` are how tasks differ in it."""
        denoiser = Denoiser(self.components.transformer, batched_cfg=self.batched_cfg)
        tokens = denoiser.run(
            inputs,
            schedule.scheduler,
            schedule.timesteps,
            first_index=schedule.first_index,
            check_cancel=cancel.raise_if_cancelled,
            on_step=self.step_reporter(emit, geometry),
            hooks=hooks,
            preview_item=preview_item,
        )
        self.batched_cfg = denoiser.batched_cfg
        return tokens

    def step_reporter(self, emit: EventCallback, geometry: LatentGeometry) -> Callable:
        """``on_step`` for the loop: a StepEvent with the ETA and, with previews on, a preview picture."""
        previewer = self.previewer

        def report(step: int, total: int, elapsed: float, predicted: torch.Tensor) -> None:
            preview = None
            if previewer is not None:
                preview = previewer.project_tokens(
                    drop_pads(predicted[:1], geometry.rows, geometry.cols), geometry.height, geometry.width
                )
            eta = elapsed / step * (total - step)
            emit(StepEvent(step=step, total=total, elapsed_s=elapsed, eta_s=eta, preview=preview))

        return report
