"""An edit request through the engine: the same stages, events, cancel and tiers as a generation.

``PanoramaEngine.run`` hands a request with a mask here once the model is loaded. Seeds: a CPU generator
seeded with the seed draws the sampling noise, as in generation, so the same seed gives the same noise on
every device. The reference method also needs the published pipeline's global-RNG stream (the VAE
posterior sample, then the inversion's target noise); a second, dedicated CPU generator seeded with the
seed reproduces it. The global RNG is never seeded.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from dit360_desktop.core import tiers
from dit360_desktop.core.codecs import encode_image, pil_to_pixels, to_uint8_image
from dit360_desktop.core.editing.blend import KnownRegionPin, plan_blend
from dit360_desktop.core.editing.inversion import (
    encode_posterior_sample,
    inversion_sigmas,
    model_velocity,
    rf_invert,
)
from dit360_desktop.core.editing.mask import reference_keep_tokens
from dit360_desktop.core.editing.reference import ReferenceInputs, reference_schedule, run_reference
from dit360_desktop.core.padding import (
    latent_image_ids,
    pack_latents,
    unpack_latents,
    wrap_pad_ids,
    wrap_pad_tokens,
)
from dit360_desktop.core.sampler import DenoiseInputs, drop_pads, make_scheduler, translate_oom
from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.events import CancelToken, EventCallback, Stage, StageEvent
from dit360_desktop.panorama.mask import composite, feather_alpha, fit_mask, load_mask
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result
from dit360_desktop.panorama.userimage import fit_image, load_user_image

if TYPE_CHECKING:
    from dit360_desktop.core.engine import PanoramaEngine

log = logging.getLogger(__name__)

# editing.py inverts with gamma 1.0 and guidance 0 for the empty source prompt.
INVERSION_GAMMA = 1.0
INVERSION_GUIDANCE = 0.0


class EditInputs:
    """The picture and its mask at the request's size, loaded through the safe loader."""

    def __init__(self, request: GenerationRequest) -> None:
        source = load_user_image(request.init_image)
        self.user_mask = load_user_image(request.mask_image)
        mask = load_mask(request.mask_image, source.size)
        self.picture = fit_image(source, request.width, request.height, request.fit)
        self.mask = fit_mask(mask, request.width, request.height, request.fit)
        self.alpha = feather_alpha(self.mask, request.feather)


def run_edit(
    engine: PanoramaEngine,
    request: GenerationRequest,
    emit: EventCallback,
    cancel: CancelToken | None,
    timings: dict[str, float],
    warnings: list[str],
) -> Result:
    """Run an edit on the loaded engine; returns the ``Result`` (``engine._run`` has loaded the model).

    ``timings`` collects seconds per stage, like a generation's."""
    from dit360_desktop.core.engine import LatentGeometry

    def clock(name: str):
        return _timed(timings, name)

    cancel = cancel or CancelToken()
    inputs = EditInputs(request)
    components = engine._components
    device = engine._device
    geometry = LatentGeometry.for_request(components.vae, request)
    notes: list[str] = []

    cancel.raise_if_cancelled()
    emit(StageEvent(Stage.ENCODING, "Encoding the prompt"))
    with clock("encoding"):
        cond, uncond = engine._encode(request, device)
        source = None
        empty = None
        if request.edit_method == "reference":
            plain = request.replace(negative_prompt="", true_cfg_scale=1.0)
            source = engine._encode(plain.replace(prompt=request.source_prompt), device)[0]
            if INVERSION_GAMMA != 1.0:
                empty = engine._encode(plain.replace(prompt=""), device)[0]
            if request.uses_true_cfg:
                notes.append("The reference edit method has no negative prompt; true CFG was not used.")

    cancel.raise_if_cancelled()
    emit(StageEvent(Stage.PREPARING, "Encoding the panorama"))
    if request.edit_method == "reference":
        latent, extra = _run_reference(
            engine, request, inputs, geometry, cond, source, empty, emit, cancel, clock
        )
    else:
        latent, extra = _run_blend(engine, request, inputs, geometry, cond, uncond, emit, cancel, clock)
    notes.extend(extra.pop("notes", []))

    cancel.raise_if_cancelled()
    emit(StageEvent(Stage.DECODING, "Decoding the panorama"))
    with clock("decoding"), translate_oom():
        decoded, decode_notes = tiers.decode_with_fallback(
            components.vae, latent, seamless=request.seamless_decode, plan=engine._plan
        )
        notes.extend(decode_notes)
        generated = to_uint8_image(decoded)
        if request.edit_method == "blend":
            # Kept pixels come back bit for bit; the generated picture shows through the mask and its feather.
            generated = composite(np.asarray(inputs.picture), generated, inputs.alpha)
    cancel.raise_if_cancelled()
    for note in notes:
        log.warning(note)
    metadata = engine._metadata(request, timings, [*warnings, *engine._plan.notes, *engine._notes, *notes])
    metadata["edit"] = {"method": request.edit_method, **extra}
    return Result(
        image=Image.fromarray(generated),
        request=request,
        metadata=metadata,
        latent=latent.detach().float().cpu(),
    )


@contextlib.contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


def _seeded_noise(request: GenerationRequest, geometry, channels: int, device, dtype) -> torch.Tensor:
    from diffusers.utils.torch_utils import randn_tensor

    # The generation's noise: a CPU generator seeded with the seed, so every device draws the same.
    generator = torch.Generator("cpu").manual_seed(request.seed)
    return randn_tensor(
        (1, channels, geometry.height, geometry.width), generator=generator, device=device, dtype=dtype
    )


def _run_blend(engine, request, inputs: EditInputs, geometry, cond, uncond, emit, cancel, clock):
    components = engine._components
    device = engine._device
    dtype = cond.t5.dtype
    channels = components.transformer.config.in_channels // 4
    plan = plan_blend(inputs.mask, inputs.alpha, request.strength)
    notes = []
    if plan.outpaint and request.strength < 1.0:
        notes.append(
            f"{plan.regenerated_share:.0%} of the panorama is regenerated: outpainting from noise "
            "(strength 1.0) instead of the requested strength."
        )
    with clock("preparing"), translate_oom():
        scheduler, timesteps, first_index = make_scheduler(
            components.scheduler_config, request.steps, geometry.padded_seq_len, device, plan.strength
        )
        if len(timesteps) == 0:
            raise RequestError(
                "strength", f"{request.strength} leaves no denoising steps; raise strength or steps"
            )
        pixels = pil_to_pixels(inputs.picture, device)
        clean = encode_image(
            components.vae, pixels, seamless=request.seamless_decode, tiling=engine._plan.tiling
        )
        clean = wrap_pad_tokens(pack_latents(clean.to(dtype)), geometry.rows, geometry.cols)
        noise = wrap_pad_tokens(
            pack_latents(_seeded_noise(request, geometry, channels, device, dtype)),
            geometry.rows,
            geometry.cols,
        )
        tokens = scheduler.scale_noise(clean, timesteps[:1], noise)
        ids = latent_image_ids(geometry.rows, geometry.cols, device=device, dtype=dtype)
        pin = KnownRegionPin(
            clean, noise, plan, scheduler, first_index, rows=geometry.rows, cols=geometry.cols
        )

    cancel.raise_if_cancelled()
    emit(StageEvent(Stage.DENOISING, f"Denoising {len(timesteps)} steps"))
    with clock("denoising"):
        ids = wrap_pad_ids(ids, geometry.rows, geometry.cols)
        inputs = DenoiseInputs.for_request(tokens, ids, cond, uncond, request, geometry)
        schedule = (scheduler, timesteps, first_index)
        tokens = engine.denoise(inputs, schedule, emit, cancel, geometry, after_step=pin)
    latent = unpack_latents(drop_pads(tokens, geometry.rows, geometry.cols), geometry.height, geometry.width)
    extra: dict[str, Any] = {
        "outpaint": plan.outpaint,
        "start_strength": plan.strength,
        "regenerated_share": round(plan.regenerated_share, 4),
        "notes": notes,
    }
    return latent, extra


def _run_reference(engine, request, inputs: EditInputs, geometry, cond, source, empty, emit, cancel, clock):
    components = engine._components
    device = engine._device
    dtype = cond.t5.dtype
    channels = components.transformer.config.in_channels // 4
    image_seq_len = geometry.rows * geometry.cols
    with clock("preparing"), translate_oom():
        # The published pipeline's global-RNG stream, from a dedicated generator: posterior sample, then y1.
        stream = torch.Generator("cpu").manual_seed(request.seed)
        pixels = pil_to_pixels(inputs.picture, device)
        clean = encode_posterior_sample(components.vae, pixels, stream, seamless=request.seamless_decode)
        clean = wrap_pad_tokens(pack_latents(clean.to(dtype)), geometry.rows, geometry.cols)
        target = torch.randn(clean.shape, generator=stream, dtype=torch.float32).to(
            device=device, dtype=dtype
        )
        ids = wrap_pad_ids(
            latent_image_ids(geometry.rows, geometry.cols, device=device, dtype=dtype),
            geometry.rows,
            geometry.cols,
        )
        emit(StageEvent(Stage.PREPARING, "Inverting the panorama (RF inversion)"))
        sigmas = inversion_sigmas(components.scheduler_config, request.steps, image_seq_len, device)
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
        noise = wrap_pad_tokens(
            pack_latents(_seeded_noise(request, geometry, channels, device, dtype)),
            geometry.rows,
            geometry.cols,
        )
        keep = reference_keep_tokens(inputs.user_mask, geometry.rows, geometry.cols)
        scheduler = reference_schedule(components.scheduler_config, request.steps, image_seq_len, device)

    cancel.raise_if_cancelled()
    emit(StageEvent(Stage.DENOISING, f"Denoising {request.steps} steps (two items)"))
    with clock("denoising"):
        reporter = engine._step_reporter(emit, geometry)
        tokens = run_reference(
            components.transformer,
            scheduler,
            ReferenceInputs(
                inverted=inverted,
                clean=clean,
                noise=noise,
                img_ids=ids,
                source=source,
                edit=cond,
                keep=keep,
                guidance=request.guidance,
                tau=request.tau / 100.0,
                image_seq_len=image_seq_len,
            ),
            check_cancel=cancel.raise_if_cancelled,
            on_step=reporter,
        )
    edited = drop_pads(tokens[1:], geometry.rows, geometry.cols)
    latent = unpack_latents(edited, geometry.height, geometry.width)
    kept = float(keep.mean())
    return latent, {"tau": request.tau, "kept_token_share": round(kept, 4), "notes": []}
