"""Regional prompts: joint-attention masking in the FLUX transformer.

Each region is a mask and a prompt. While the regions act, the text stream is the base prompt's tokens
followed by every region prompt's (each a full T5 encoding), and the joint attention over
``[text…, image…]`` (the order of diffusers' Flux attention, in double and single blocks alike) follows
one boolean mask, ``joint_attention_mask``, the definition of the rule. It is computed without the dense
mask, as a few unmasked attention calls on gathered keys (``regional_attention``; equal to the masked
attention up to summation order, and much cheaper):

- every image token attends to every image token (pads included);
- an image token inside one or more regions attends to those regions' prompts, **not** to the base
  prompt; an image token in no region attends to the base prompt (overlaps: a token in several regions
  reads all their prompts);
- a prompt's text tokens attend to their own text and to the image tokens that read them.

So a single region covering everything whose prompt is the base prompt computes what plain generation
computes (its copy of the text evolves as the original would), and a region that covers no token is
dropped (with a note), leaving the plain loop untouched.

Wrap columns: masks are sampled on the unpadded token grid, then padded like the tokens, so a pad
column belongs to the regions of the column it copies. After ``regions_until`` of the steps the loop is
plain: the base prompt alone, no mask.

True CFG: the negative pass stays plain (its own prompt, no region reads anything else); in a batched
call its items follow the plain rule, with the region prompts' tokens isolated (``negative_attention_mask``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from dit360_desktop.core.codecs import PromptEmbeds
from dit360_desktop.core.geometry import LatentGeometry
from dit360_desktop.core.guides.regional_attention import (
    AttentionGroup,
    RegionalAttention,
    attention_groups,
    regional_processors,
)
from dit360_desktop.core.sampler import DenoiseHook, StepInfo
from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.regions import Region, read_regions
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.userimage import fit_image, load_user_image

log = logging.getLogger(__name__)

# As for control images: further than this from the panorama's aspect, a mask is refused, not fitted.
MAX_ASPECT_MISMATCH = 4.0


def token_masks(pictures: Sequence[Image.Image], rows: int, cols: int) -> np.ndarray:
    """(R, rows, cols) bool: a token is in a region when the mean luminance of its pixels is ≥ ½."""
    masks = []
    for picture in pictures:
        grey = np.asarray(picture.convert("L"), dtype=np.float64) / 255.0
        height, width = grey.shape
        blocks = grey.reshape(rows, height // rows, cols, width // cols).mean(axis=(1, 3))
        masks.append(blocks >= 0.5)
    return np.stack(masks) if masks else np.zeros((0, rows, cols), bool)


def pad_token_masks(masks: np.ndarray) -> np.ndarray:
    """(R, rows, cols) → (R, rows, cols + 2): DiT360's wrap columns, as ``padding.wrap_pad_tokens``."""
    return np.concatenate([masks[:, :, -1:], masks, masks[:, :, :1]], axis=2)


def joint_attention_mask(text_lengths: Sequence[int], regions: np.ndarray) -> torch.Tensor:
    """(L, L) bool, True = may attend, over ``[base text, region 1 text, …, image tokens]``.

    ``text_lengths`` are the base prompt's and then each region's; ``regions`` is (R, rows, cols + 2).
    """
    count = regions.shape[0]
    if len(text_lengths) != count + 1:
        raise ValueError("one text length for the base prompt and one per region")
    inside = torch.from_numpy(regions.reshape(count, -1))  # (R, N)
    uncovered = ~inside.any(dim=0)  # (N,)
    readers = torch.cat([uncovered[None], inside])  # (R + 1, N): which image tokens read each prompt
    text_total = sum(text_lengths)
    tokens = readers.shape[1]
    mask = torch.zeros(text_total + tokens, text_total + tokens, dtype=torch.bool)
    mask[text_total:, text_total:] = True
    start = 0
    for prompt, length in enumerate(text_lengths):
        span = slice(start, start + length)
        mask[span, span] = True
        mask[span, text_total:] = readers[prompt][None, :]
        mask[text_total:, span] = readers[prompt][:, None]
        start += length
    return mask


def negative_attention_mask(text_lengths: Sequence[int], image_tokens: int) -> torch.Tensor:
    """(L, L) bool for true CFG's negative pass while regions act: the plain attention of the negative
    prompt and the image; the region prompts' tokens (there only so the batch has one length) read
    only themselves, and nothing reads them."""
    text_total = sum(text_lengths)
    mask = torch.zeros(text_total + image_tokens, text_total + image_tokens, dtype=torch.bool)
    base = text_lengths[0]
    mask[:base, :base] = True
    mask[:base, text_total:] = True
    mask[text_total:, :base] = True
    mask[text_total:, text_total:] = True
    start = base
    for length in text_lengths[1:]:
        mask[start : start + length, start : start + length] = True
        start += length
    return mask


class RegionsHook(DenoiseHook):
    """The region prompts join the text stream and the rule goes to the attention (grouped, see
    ``regional_attention``), for the steps before ``until``. With true CFG the negative pass stays plain
    (docs/guides.md): the region prompts say what to draw where, and the negative prompt what to avoid
    everywhere; regional negatives would cancel the guidance inside the regions."""

    def __init__(self, region_embeds: Sequence[PromptEmbeds], regions: np.ndarray, until: float) -> None:
        self.region_t5 = [embeds.t5 for embeds in region_embeds]
        self.regions = regions
        self.until = until
        self.active = True
        # Built once per text length, cond/negative and device, not per step: the groups are the same
        # for every step and every block while the regions act.
        self._groups: dict[tuple, list[AttentionGroup]] = {}
        # The base text length and device of the call ``prompt`` last widened, which its groups are for.
        self._base_length = 0
        self._device = torch.device("cpu")

    def before_step(self, step: StepInfo, tokens: torch.Tensor) -> None:
        self.active = step.index / step.total < self.until

    def _acts(self, negative: tuple[bool, ...]) -> bool:
        # A call made only of negative items is the plain negative pass: nothing to add.
        return self.active and not all(negative)

    def prompt(self, step: StepInfo, embeds: PromptEmbeds, negative: tuple[bool, ...]) -> PromptEmbeds:
        if not self._acts(negative):
            return embeds
        batch = embeds.t5.shape[0]
        region_t5 = [t.to(embeds.t5).expand(batch, -1, -1) for t in self.region_t5]
        t5 = torch.cat([embeds.t5, *region_t5], dim=1)
        ids = embeds.text_ids.new_zeros(t5.shape[1], embeds.text_ids.shape[1])
        self._base_length = embeds.t5.shape[1]
        self._device = embeds.t5.device
        return PromptEmbeds(t5=t5, pooled=embeds.pooled, text_ids=ids)

    def attach(self, transformer) -> contextlib.AbstractContextManager:
        return regional_processors(transformer)

    def attention_kwargs(self, step: StepInfo, negative: tuple[bool, ...]) -> dict:
        if not self._acts(negative):
            return {}
        return {"regional": self.attention(self._base_length, negative, self._device)}

    def attention(
        self, base_length: int, negative: tuple[bool, ...], device: torch.device
    ) -> RegionalAttention:
        """The grouped attention for a call whose items are ``negative`` or not (``regional_attention``)."""
        items = []
        for item in negative:
            key = (base_length, item, device)
            if key not in self._groups:
                lengths = [base_length, *(t.shape[1] for t in self.region_t5)]
                groups = attention_groups(lengths, self.regions, negative=item)
                self._groups[key] = [AttentionGroup(g.queries.to(device), g.keys.to(device)) for g in groups]
            items.append(self._groups[key])
        return RegionalAttention(items)


def fitted_mask(region: Region, index: int, request: GenerationRequest, notes: list[str]) -> Image.Image:
    picture = load_user_image(region.mask)
    width, height = picture.size
    ratio = (width / height) / (request.width / request.height)
    field = f"regions[{index}].mask"
    if max(ratio, 1 / ratio) > MAX_ASPECT_MISMATCH:
        raise RequestError(
            field,
            f"is {width}×{height}, too far from the panorama's {request.width}×{request.height} to be "
            "fitted; paint the mask on an equirectangular (2:1) picture",
        )
    if abs(ratio - 1) > 0.01:
        notes.append(f"The mask of region {index + 1} ({width}×{height}) was stretched to 2:1.")
        log.warning("%s", notes[-1])
    # Stretched, not cropped: a mask is a map of the sphere, and every part of it is meant.
    return fit_image(picture, request.width, request.height, "stretch")


def regions_hook(model, request: GenerationRequest, geometry: LatentGeometry) -> RegionsHook | None:
    """The hook of the request's regions file; None when no region covers a token (plain loop)."""
    regions = read_regions(request.regions_file)
    pictures = [fitted_mask(region, i, request, model.run.notes) for i, region in enumerate(regions)]
    masks = token_masks(pictures, geometry.rows, geometry.cols)
    kept = [i for i in range(len(regions)) if masks[i].any()]
    for i in range(len(regions)):
        if i not in kept:
            model.note(f"Region {i + 1} ({regions[i].prompt!r}) covers no part of the panorama; left out.")
    if not kept:
        return None
    embeds = model.encode_prompts([regions[i].prompt for i in kept])
    return RegionsHook(embeds, pad_token_masks(masks[kept]), request.regions_until)
