"""Our masked edit ("blend", ``core/editing/blend.py``): one run of the denoising loop that regenerates the
mask, with a hook that pins the kept latents to their own trajectory."""

from __future__ import annotations

from typing import ClassVar

from dit360_desktop.core.editing.blend import KnownRegionPin, plan_blend
from dit360_desktop.core.editing.common import EditInputs, finish_edit, start_edit
from dit360_desktop.core.guides.hooks import guide_hooks
from dit360_desktop.core.sampler import DenoiseInputs, translate_oom
from dit360_desktop.core.tasks.base import FLUX, Models
from dit360_desktop.panorama.events import CancelToken, EventCallback, Stage, StageEvent
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result


class BlendEditTask:
    needs: ClassVar[tuple[str, ...]] = (FLUX,)

    def run(
        self, models: Models, request: GenerationRequest, emit: EventCallback, cancel: CancelToken
    ) -> Result:
        model = models.flux
        start_edit(model, request)
        inputs = EditInputs(request)
        geometry = model.geometry(request)

        cancel.raise_if_cancelled()
        emit(StageEvent(Stage.ENCODING, "Encoding the prompt"))
        with model.clock("encoding"):
            cond, uncond = model.encode(request)

        cancel.raise_if_cancelled()
        emit(StageEvent(Stage.PREPARING, "Encoding the panorama"))
        plan = plan_blend(inputs.mask, inputs.alpha, request.strength)
        if plan.outpaint and request.strength < 1.0:
            model.note(
                f"{plan.regenerated_share:.0%} of the panorama is regenerated: outpainting from noise "
                "(strength 1.0) instead of the requested strength."
            )
        with model.clock("preparing"), translate_oom():
            dtype = cond.t5.dtype
            schedule = model.schedule(request, geometry, plan.strength)
            clean = model.padded_tokens(
                model.encode_image(inputs.picture, seamless=request.seamless_decode).to(dtype), geometry
            )
            noise = model.padded_noise(request.seed, geometry, dtype)
            tokens = schedule.scheduler.scale_noise(clean, schedule.timesteps[:1], noise)
            ids = model.padded_ids(geometry, dtype)
            pin = KnownRegionPin(
                clean,
                noise,
                plan,
                schedule.scheduler,
                schedule.first_index,
                rows=geometry.rows,
                cols=geometry.cols,
            )

        cancel.raise_if_cancelled()
        emit(StageEvent(Stage.DENOISING, f"Denoising {len(schedule.timesteps)} steps"))
        with model.clock("denoising"):
            loop_inputs = DenoiseInputs.for_request(tokens, ids, cond, uncond, request, geometry)
            tokens = model.denoise(
                loop_inputs,
                schedule,
                emit,
                cancel,
                geometry,
                hooks=[pin, *guide_hooks(model, request, geometry, dtype)],
            )
        latent = model.unpadded_latent(tokens, geometry)
        edit = {
            "outpaint": plan.outpaint,
            "start_strength": plan.strength,
            "regenerated_share": round(plan.regenerated_share, 4),
        }
        return finish_edit(model, request, latent, emit, cancel, edit, keep_from=inputs)
