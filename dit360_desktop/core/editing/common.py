"""What both edit methods share: the picture and mask as loaded, the prompt stage and the decode stage.

Seeds: a CPU generator seeded with the seed draws the sampling noise, as in generation, so the same seed
gives the same noise on every device. The reference method also needs the published pipeline's global-RNG
stream (the VAE posterior sample, then the inversion's target noise); a second, dedicated CPU generator
seeded with the seed reproduces it. The global RNG is never seeded.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from PIL import Image

from dit360_desktop.core.loaded_model import LoadedModel
from dit360_desktop.core.sampler import translate_oom
from dit360_desktop.core.step_cache import configure_step_cache
from dit360_desktop.panorama.events import CancelToken, EventCallback, Stage, StageEvent
from dit360_desktop.panorama.mask import composite, feather_alpha, fit_mask, load_mask, read_mask
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result
from dit360_desktop.panorama.userimage import fit_image, load_user_image

log = logging.getLogger(__name__)


class EditInputs:
    """The picture and its mask at the request's size, loaded through the safe loader."""

    def __init__(self, request: GenerationRequest) -> None:
        source = load_user_image(request.init_image)
        self.user_mask = Image.fromarray(read_mask(request.mask_image), mode="L")
        mask = load_mask(request.mask_image, source.size)
        self.picture = fit_image(source, request.width, request.height, request.fit)
        self.mask = fit_mask(mask, request.width, request.height, request.fit)
        self.alpha = feather_alpha(self.mask, request.feather)


def start_edit(model: LoadedModel, request: GenerationRequest) -> None:
    # The edit methods need exact transformer calls: the step cache's contexts are for generation.
    configure_step_cache(model.components.transformer, "off", request.steps, model.dtype)
    if request.step_cache != "off":
        model.note("The step cache (fast draft) is not used for edits; the edit is exact.")


def finish_edit(
    model: LoadedModel,
    request: GenerationRequest,
    latent: torch.Tensor,
    emit: EventCallback,
    cancel: CancelToken,
    edit: dict[str, Any],
    *,
    keep_from: EditInputs | None = None,
) -> Result:
    """Decode the edited latent into the Result; ``keep_from`` composites the kept pixels back bit for bit
    (the generated picture shows through the mask and its feather). ``edit`` is the metadata's edit block."""
    cancel.raise_if_cancelled()
    emit(StageEvent(Stage.DECODING, "Decoding the panorama"))
    with model.clock("decoding"), translate_oom():
        generated = model.decode(latent, seamless=request.seamless_decode)
        if keep_from is not None:
            generated = composite(np.asarray(keep_from.picture), generated, keep_from.alpha)
    cancel.raise_if_cancelled()
    for note in model.run.notes:
        log.warning(note)
    metadata = model.metadata(request)
    metadata["edit"] = {"method": request.edit_method, **edit}
    return Result(
        image=Image.fromarray(generated),
        request=request,
        metadata=metadata,
        latent=latent.detach().float().cpu(),
    )
