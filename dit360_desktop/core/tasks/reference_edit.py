"""The published DiT360 edit (``editing.py`` + ``pa_src``, ``core/editing/reference.py``): RF-inversion of
the panorama, then a batch of two through the one denoising loop, coupled by the reference hook (token
replacement in the attention layers, item 0 on the inversion's path, the latent blend)."""

from __future__ import annotations

from typing import ClassVar

import torch

from dit360_desktop.core.codecs import PromptEmbeds, pil_to_pixels
from dit360_desktop.core.editing.common import EditInputs, finish_edit, start_edit
from dit360_desktop.core.editing.inversion import (
    encode_posterior_sample,
    inversion_sigmas,
    model_velocity,
    rf_invert,
)
from dit360_desktop.core.editing.mask import reference_keep_tokens
from dit360_desktop.core.editing.reference import ReferenceCoupling, reference_schedule
from dit360_desktop.core.guides.hooks import guide_hooks
from dit360_desktop.core.loaded_model import Schedule
from dit360_desktop.core.sampler import DenoiseInputs, translate_oom
from dit360_desktop.core.tasks.base import FLUX, Models
from dit360_desktop.panorama.events import CancelToken, EventCallback, Stage, StageEvent
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result

# editing.py inverts with gamma 1.0 and guidance 0 for the empty source prompt.
INVERSION_GAMMA = 1.0
INVERSION_GUIDANCE = 0.0


class ReferenceEditTask:
    needs: ClassVar[tuple[str, ...]] = (FLUX,)

    def run(
        self, models: Models, request: GenerationRequest, emit: EventCallback, cancel: CancelToken
    ) -> Result:
        model = models.flux
        start_edit(model, request)
        inputs = EditInputs(request)
        geometry = model.geometry(request)
        components = model.components

        cancel.raise_if_cancelled()
        emit(StageEvent(Stage.ENCODING, "Encoding the prompt"))
        with model.clock("encoding"):
            cond, _ = model.encode(request)
            source = model.encode_prompts([request.source_prompt])[0]
            empty = model.encode_prompts([""])[0] if INVERSION_GAMMA != 1.0 else None
            if request.uses_true_cfg:
                model.note("The reference edit method has no negative prompt; true CFG was not used.")

        cancel.raise_if_cancelled()
        emit(StageEvent(Stage.PREPARING, "Encoding the panorama"))
        image_seq_len = geometry.rows * geometry.cols
        with model.clock("preparing"), translate_oom():
            dtype = cond.t5.dtype
            # The published global-RNG stream, from a dedicated generator: posterior sample, then y1.
            stream = torch.Generator("cpu").manual_seed(request.seed)
            pixels = pil_to_pixels(inputs.picture, model.device)
            clean = encode_posterior_sample(components.vae, pixels, stream, seamless=request.seamless_decode)
            clean = model.padded_tokens(clean.to(dtype), geometry)
            target = torch.randn(clean.shape, generator=stream, dtype=torch.float32).to(
                device=model.device, dtype=dtype
            )
            ids = model.padded_ids(geometry, dtype)
            emit(StageEvent(Stage.PREPARING, "Inverting the panorama (RF inversion)"))
            sigmas = inversion_sigmas(components.scheduler_config, request.steps, image_seq_len, model.device)
            velocity = None
            if INVERSION_GAMMA != 1.0:
                velocity = model_velocity(components.transformer, empty, ids, INVERSION_GUIDANCE)
            inverted = rf_invert(
                clean,
                target,
                sigmas,
                gamma=INVERSION_GAMMA,
                velocity=velocity,
                check_cancel=cancel.raise_if_cancelled,
            )
            noise = model.padded_noise(request.seed, geometry, dtype)
            keep = reference_keep_tokens(inputs.user_mask, geometry.rows, geometry.cols)
            scheduler = reference_schedule(
                components.scheduler_config, request.steps, image_seq_len, model.device
            )

        cancel.raise_if_cancelled()
        emit(StageEvent(Stage.DENOISING, f"Denoising {request.steps} steps (two items)"))
        with model.clock("denoising"):
            # Item 0 reconstructs the source (source prompt), item 1 is the edit (edit prompt); no true CFG.
            both = PromptEmbeds(
                t5=torch.cat([source.t5, cond.t5]),
                pooled=torch.cat([source.pooled, cond.pooled]),
                text_ids=cond.text_ids,
            )
            loop_inputs = DenoiseInputs(
                tokens=torch.cat([inverted, noise]),
                img_ids=ids,
                cond=both,
                uncond=None,
                guidance=request.guidance,
                true_cfg_scale=1.0,
                rows=geometry.rows,
                cols=geometry.cols,
                rewrap_each_step=False,
            )
            coupling = ReferenceCoupling(clean, keep, request.tau / 100.0, scheduler)
            schedule = Schedule(scheduler, scheduler.timesteps, 0)
            tokens = model.denoise(
                loop_inputs,
                schedule,
                emit,
                cancel,
                geometry,
                hooks=[coupling, *guide_hooks(model, request, geometry, dtype)],
                preview_item=1,
            )
        latent = model.unpadded_latent(tokens[1:], geometry)
        edit = {"tau": request.tau, "kept_token_share": round(float(keep.mean()), 4)}
        return finish_edit(model, request, latent, emit, cancel, edit)
