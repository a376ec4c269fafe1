"""Text to panorama, and img2img from an init image: the published DiT360 pipeline (numbered stages)."""

from __future__ import annotations

from typing import ClassVar

from PIL import Image

from dit360_desktop.core.guides.hooks import guide_hooks
from dit360_desktop.core.sampler import DenoiseInputs, translate_oom
from dit360_desktop.core.step_cache import configure_step_cache
from dit360_desktop.core.tasks.base import FLUX, Models
from dit360_desktop.panorama.events import CancelToken, EventCallback, Stage, StageEvent
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result
from dit360_desktop.panorama.userimage import fit_image, load_user_image


class GenerateTask:
    needs: ClassVar[tuple[str, ...]] = (FLUX,)

    def run(
        self, models: Models, request: GenerationRequest, emit: EventCallback, cancel: CancelToken
    ) -> Result:
        model = models.flux
        cancel.raise_if_cancelled()
        emit(StageEvent(Stage.ENCODING, "Encoding the prompt"))
        with model.clock("encoding"):
            cond, uncond = model.encode(request)

        cancel.raise_if_cancelled()
        emit(StageEvent(Stage.PREPARING, "Preparing latents"))
        with model.clock("preparing"), translate_oom():
            geometry = model.geometry(request)
            dtype = cond.t5.dtype
            # 1. Noise from a CPU generator, packed and wrap-padded (with the position ids).
            tokens = model.padded_noise(request.seed, geometry, dtype)
            ids = model.padded_ids(geometry, dtype)
            # 2. Schedule from the padded sequence length, as the reference does.
            schedule = model.schedule(request, geometry, request.strength if request.is_img2img else 1.0)
            # 3. img2img: start part-way along the schedule from the encoded init image.
            if request.is_img2img:
                picture = fit_image(
                    load_user_image(request.init_image), request.width, request.height, request.fit
                )
                init = model.encode_image(picture, seamless=request.seamless_decode)
                init_tokens = model.padded_tokens(init.to(dtype), geometry)
                tokens = schedule.scheduler.scale_noise(init_tokens, schedule.timesteps[:1], tokens)
            # 4. Guides (core/guides): control latents, reference tokens, regional attention.
            hooks = guide_hooks(model, request, geometry, dtype)

        cancel.raise_if_cancelled()
        steps = len(schedule.timesteps)
        emit(StageEvent(Stage.DENOISING, f"Denoising {steps} steps"))
        note = configure_step_cache(model.components.transformer, request.step_cache, steps, model.dtype)
        if note:
            model.note(note)
        with model.clock("denoising"):
            inputs = DenoiseInputs.for_request(tokens, ids, cond, uncond, request, geometry)
            tokens = model.denoise(inputs, schedule, emit, cancel, geometry, hooks=hooks)

        cancel.raise_if_cancelled()
        emit(StageEvent(Stage.DECODING, "Decoding the panorama"))
        with model.clock("decoding"), translate_oom():
            latent = model.unpadded_latent(tokens, geometry)
            image = Image.fromarray(model.decode(latent, seamless=request.seamless_decode))
        cancel.raise_if_cancelled()
        return Result(
            image=image,
            request=request,
            metadata=model.metadata(request),
            latent=latent.detach().float().cpu(),
        )
