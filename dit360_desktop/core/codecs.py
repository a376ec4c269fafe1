"""Text encoding (CLIP pooled + T5) with a cache, and a VAE that wraps horizontally.

Text encoding follows diffusers ``FluxPipeline._get_clip_prompt_embeds`` / ``_get_t5_prompt_embeds``: both
tokenizers pad to max length and truncate (77 for CLIP, 512 for T5). The seamless VAE pads every
convolution circularly in x and with zeros in y, so decode(roll(z, k)) == roll(decode(z), 8k).
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

T5_MAX_TOKENS = 512


@dataclass(frozen=True)
class PromptEmbeds:
    t5: torch.Tensor  # (1, 512, D): encoder_hidden_states
    pooled: torch.Tensor  # (1, D_pooled): pooled_projections
    text_ids: torch.Tensor  # (512, 3) zeros


class TextEncoder:
    """Owns both tokenizers and encoders; caches embeddings by prompt and encoder identity."""

    def __init__(
        self,
        tokenizer,
        text_encoder,
        tokenizer_2,
        text_encoder_2,
        *,
        identity: str,
        cache_size: int = 32,
        dtype: torch.dtype | None = None,
    ):
        self.tokenizer = tokenizer
        self.text_encoder = text_encoder
        self.tokenizer_2 = tokenizer_2
        self.text_encoder_2 = text_encoder_2
        self.identity = identity
        # The embeddings' dtype; given explicitly when an encoder stores its weights in fp8.
        self.dtype = dtype if dtype is not None else text_encoder.dtype
        self._cache: OrderedDict[tuple[str, str], PromptEmbeds] = OrderedDict()
        self._cache_size = cache_size
        self.hits = 0
        self.misses = 0

    @torch.no_grad()
    def encode(self, prompt: str, device: torch.device) -> PromptEmbeds:
        key = (self.identity, prompt)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.hits += 1
            return cached
        self.misses += 1
        embeds = PromptEmbeds(
            t5=self._t5(prompt, device),
            pooled=self._clip_pooled(prompt, device),
            text_ids=torch.zeros(T5_MAX_TOKENS, 3, device=device, dtype=self.dtype),
        )
        self._cache[key] = embeds
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return embeds

    def is_cached(self, prompt: str) -> bool:
        return (self.identity, prompt) in self._cache

    def clear_cache(self) -> None:
        self._cache.clear()

    def _clip_pooled(self, prompt: str, device: torch.device) -> torch.Tensor:
        max_length = self.tokenizer.model_max_length
        ids = self.tokenizer(
            [prompt], padding="max_length", max_length=max_length, truncation=True, return_tensors="pt"
        ).input_ids
        _warn_if_truncated(self.tokenizer, prompt, ids, "CLIP")
        output = self.text_encoder(ids.to(self._device_of(self.text_encoder)), output_hidden_states=False)
        return output.pooler_output.to(dtype=self.dtype, device=device)

    def _t5(self, prompt: str, device: torch.device) -> torch.Tensor:
        ids = self.tokenizer_2(
            [prompt], padding="max_length", max_length=T5_MAX_TOKENS, truncation=True, return_tensors="pt"
        ).input_ids
        _warn_if_truncated(self.tokenizer_2, prompt, ids, "T5")
        output = self.text_encoder_2(
            ids.to(self._device_of(self.text_encoder_2)), output_hidden_states=False
        )[0]
        return output.to(dtype=self.dtype, device=device)

    @staticmethod
    def _device_of(module: torch.nn.Module) -> torch.device:
        return next(module.parameters()).device


def _warn_if_truncated(tokenizer, prompt: str, ids: torch.Tensor, name: str) -> None:
    full = tokenizer([prompt], padding="longest", return_tensors="pt").input_ids
    if full.shape[-1] > ids.shape[-1]:
        log.warning("The prompt is longer than %s's %d tokens; the end was cut off.", name, ids.shape[-1])


# --- Seamless VAE ---------------------------------------------------------------------------------------


def _wrap_conv_input(module: torch.nn.Conv2d, args: tuple) -> tuple:
    pad_h, pad_w = module._dit360_padding
    x = args[0]
    if pad_w:
        x = F.pad(x, (pad_w, pad_w, 0, 0), mode="circular")
    if pad_h:
        x = F.pad(x, (0, 0, pad_h, pad_h), mode="constant", value=0.0)
    return (x, *args[1:])


def _wrap_downsample_input(module: torch.nn.Conv2d, args: tuple) -> tuple:
    # diffusers' Downsample2D zero-pads one column on the right before its stride-2 conv; that column
    # is the image's left edge when the panorama wraps.
    x = args[0].clone()
    x[..., :-1, -1] = x[..., :-1, 0]
    return (x, *args[1:])


@contextlib.contextmanager
def horizontal_wrap(module: torch.nn.Module) -> Iterator[None]:
    """Inside this context every padded conv in ``module`` wraps horizontally and zero-pads vertically."""
    from diffusers.models.downsampling import Downsample2D

    handles = []
    patched: list[tuple[torch.nn.Conv2d, tuple]] = []
    asymmetric = {
        id(sub.conv)
        for sub in module.modules()
        if isinstance(sub, Downsample2D) and sub.use_conv and sub.padding == 0
    }
    try:
        for conv in module.modules():
            if not isinstance(conv, torch.nn.Conv2d):
                continue
            if id(conv) in asymmetric:
                handles.append(conv.register_forward_pre_hook(_wrap_downsample_input))
                continue
            padding = conv.padding
            if isinstance(padding, str) or padding == (0, 0):
                continue
            if conv.padding_mode != "zeros":
                continue
            conv._dit360_padding = padding
            patched.append((conv, padding))
            conv.padding = (0, 0)
            handles.append(conv.register_forward_pre_hook(_wrap_conv_input))
        yield
    finally:
        for handle in handles:
            handle.remove()
        for conv, padding in patched:
            conv.padding = padding
            del conv._dit360_padding


@torch.no_grad()
def decode_latents(vae, latents: torch.Tensor, *, seamless: bool, tiling=None) -> torch.Tensor:
    """Un-scale with the VAE's own config and decode; returns the raw decoder output in [-1, 1]-ish.

    ``tiling`` (a ``vae_tiling.TilingConfig``) decodes tile by tile with bounded memory, same result.
    """
    latents = latents / vae.config.scaling_factor + vae.config.shift_factor
    latents = latents.to(dtype=vae.dtype)
    if tiling is not None:
        from dit360_desktop.core.vae_tiling import tiled_decode

        return tiled_decode(vae, latents, seamless=seamless, config=tiling)
    context = horizontal_wrap(vae.decoder) if seamless else contextlib.nullcontext()
    with context:
        return vae.decode(latents, return_dict=False)[0]


@torch.no_grad()
def encode_image(vae, pixels: torch.Tensor, *, seamless: bool, tiling=None) -> torch.Tensor:
    """Encode (B, 3, H, W) pixels in [-1, 1] to scaled latents, using the posterior mean.

    The mean (not a sample) keeps img2img deterministic and leaves the noise generator untouched, so
    strength 1.0 gives exactly the txt2img result for the same seed.
    """
    if tiling is not None:
        from dit360_desktop.core.vae_tiling import tiled_encode

        latents = tiled_encode(vae, pixels, seamless=seamless, config=tiling)
        return (latents - vae.config.shift_factor) * vae.config.scaling_factor
    context = horizontal_wrap(vae.encoder) if seamless else contextlib.nullcontext()
    with context:
        latents = vae.encode(pixels.to(dtype=vae.dtype), return_dict=False)[0].mode()
    return (latents - vae.config.shift_factor) * vae.config.scaling_factor


def to_uint8_image(decoded: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) decoder output → (H, W, 3) uint8, rounding exactly as diffusers' VaeImageProcessor."""
    image = (decoded * 0.5 + 0.5).clamp(0, 1)
    array = image.cpu().permute(0, 2, 3, 1).float().numpy()[0]
    return (array * 255).round().astype("uint8")


def pil_to_pixels(image, device: torch.device) -> torch.Tensor:
    """RGB PIL image → (1, 3, H, W) float tensor in [-1, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array).permute(2, 0, 1)[None]
    return (tensor * 2.0 - 1.0).to(device)
