"""A reference image with FLUX.1 Redux: the picture becomes extra tokens of the text stream.

diffusers' ``FluxPriorReduxPipeline`` is the reference: SigLIP (``SiglipVisionModel`` with its
``SiglipImageProcessor``) encodes the picture, ``ReduxImageEncoder`` projects its hidden states to the T5
width, and the result is appended to the T5 prompt embeddings. The pipeline's own ``encode_image`` and
``image_embedder`` run here (through a pipeline built from our components); only the concatenation
with our cached prompt embeddings is ours. ``reference_strength`` scales the Redux tokens; 0 adds none.

When true CFG is on, the negative prompt gets the same tokens: its batch with the prompt needs one
length, and the reference then shapes both sides of the guidance alike.

The Redux folder is FLUX.1-Redux-dev's diffusers layout: ``image_embedder/`` (ReduxImageEncoder),
``image_encoder/`` (SigLIP so400m) and ``feature_extractor/``. One Redux model stays loaded between runs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from dit360_desktop.core.codecs import PromptEmbeds
from dit360_desktop.panorama.errors import ModelInvalidError, ModelMissingError
from dit360_desktop.panorama.flux_layout import REDUX_PARTS
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.userimage import load_user_image

log = logging.getLogger(__name__)


class ReduxModel:
    def __init__(self, folder: Path, device: torch.device, dtype: torch.dtype) -> None:
        from diffusers import FluxPriorReduxPipeline
        from diffusers.pipelines.flux.modeling_flux import ReduxImageEncoder
        from transformers import SiglipImageProcessor, SiglipVisionModel

        missing = [part for part in REDUX_PARTS if not (folder / part).is_dir()]
        if missing:
            raise ModelMissingError(
                f"The Redux folder {folder} lacks {', '.join(missing)}: it must hold FLUX.1-Redux-dev in "
                "diffusers layout (image_embedder, image_encoder, feature_extractor)."
            )
        self.key = (folder, device, dtype)
        self.pipe = FluxPriorReduxPipeline(
            image_encoder=SiglipVisionModel.from_pretrained(folder / "image_encoder", torch_dtype=dtype).to(
                device
            ),
            feature_extractor=SiglipImageProcessor.from_pretrained(folder / "feature_extractor"),
            image_embedder=ReduxImageEncoder.from_pretrained(folder / "image_embedder", torch_dtype=dtype).to(
                device
            ),
        )
        self.device = device

    @torch.no_grad()
    def image_tokens(self, picture) -> torch.Tensor:
        """(1, N, D) Redux tokens of a PIL picture, as FluxPriorReduxPipeline makes them."""
        hidden = self.pipe.encode_image(picture, self.device, 1)
        return self.pipe.image_embedder(hidden).image_embeds


_loaded: ReduxModel | None = None


def redux_model(folder: Path, device: torch.device, dtype: torch.dtype) -> ReduxModel:
    global _loaded
    if _loaded is None or _loaded.key != (folder, device, dtype):
        _loaded = None
        _loaded = ReduxModel(folder, device, dtype)
    return _loaded


def with_reference(
    model, request: GenerationRequest, cond: PromptEmbeds, uncond: PromptEmbeds | None
) -> tuple[PromptEmbeds, PromptEmbeds | None]:
    """The prompt embeddings with the reference's Redux tokens appended (unchanged at strength 0)."""
    if request.reference_image is None or request.reference_strength == 0:
        return cond, uncond
    if request.reference_model is None:
        raise ModelMissingError("A reference image needs the FLUX.1-Redux-dev model; none was given.")
    redux = redux_model(Path(request.reference_model).expanduser(), model.device, model.dtype)
    tokens = redux.image_tokens(load_user_image(request.reference_image))
    if tokens.shape[-1] != cond.t5.shape[-1]:
        raise ModelInvalidError(
            f"The Redux model makes {tokens.shape[-1]}-wide tokens but this FLUX's text stream is "
            f"{cond.t5.shape[-1]} wide: it is a Redux model for another base model."
        )
    tokens = tokens.to(cond.t5.dtype) * request.reference_strength
    return _append(cond, tokens), (_append(uncond, tokens) if uncond is not None else None)


def _append(embeds: PromptEmbeds, tokens: torch.Tensor) -> PromptEmbeds:
    t5 = torch.cat([embeds.t5, tokens.to(embeds.t5.device)], dim=1)
    # Text position ids are all zeros in FLUX; the Redux tokens get the same.
    ids = embeds.text_ids.new_zeros(t5.shape[1], embeds.text_ids.shape[1])
    return PromptEmbeds(t5=t5, pooled=embeds.pooled, text_ids=ids)
