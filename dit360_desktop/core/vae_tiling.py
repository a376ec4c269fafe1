"""Tiled VAE decode and encode that give the same result as the untiled (seamless) VAE.

The usual tiled VAE (diffusers' ``enable_tiling``) decodes overlapping tiles independently and blends
them; every tile then normalises with its own GroupNorm statistics and attends only within itself, so
the result drifts from the untiled decode and is not seamless across the 0/360° edge. Here the VAE is
run layer by layer instead, with every layer computed tile by tile:

- a convolution reads its tile plus a halo of neighbouring pixels; the halo wraps around the left/right
  edge (circular, as ``codecs.horizontal_wrap`` pads) and is zero above and below the image;
- a GroupNorm uses statistics gathered over the whole feature map (merged tile by tile, in float64);
- the mid-block attention runs on the whole map at latent resolution, where it is small.

Each step is therefore the untiled computation up to floating-point summation order, so the tiled
decode equals the untiled seamless decode, stays exactly roll-equivariant, and needs no blending.
Memory on the compute device is bounded by ``TilingConfig.region_elements`` per tile; with
``store="cpu"`` the full-resolution feature maps live in RAM and only tiles visit the GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dit360_desktop.panorama.errors import DiT360Error

# 2^25 elements: a 512-channel tile of 256×256 pixels, 128 MiB in fp32, including its halo.
DEFAULT_REGION_ELEMENTS = 1 << 25
STORES = ("device", "cpu")


class TilingUnsupportedError(DiT360Error):
    """The VAE has a layer this tiled executor does not know; decode it untiled instead."""


@dataclass(frozen=True)
class TilingConfig:
    # channels × rows × cols of one tile's input region, halo included
    region_elements: int = DEFAULT_REGION_ELEMENTS
    store: str = "device"  # where whole feature maps live between layers: "device" or "cpu"

    def __post_init__(self) -> None:
        if self.store not in STORES:
            raise ValueError(f"store must be one of {STORES}, not {self.store!r}")
        if self.region_elements < 1024:
            raise ValueError("region_elements must be at least 1024")


@torch.no_grad()
def tiled_decode(vae, latents: torch.Tensor, *, seamless: bool, config: TilingConfig | None = None):
    """Decode already un-scaled latents (B, C, h, w) like ``vae.decode`` does; returns (B, 3, 8h, 8w)."""
    check_tileable(vae)
    runner = TiledRunner(vae, wrap=seamless, config=config or TilingConfig())
    z = latents.to(device=runner.device, dtype=runner.dtype)
    if vae.post_quant_conv is not None:
        z = vae.post_quant_conv(z)
    return runner.decoder(vae.decoder, runner.to_store(z))


@torch.no_grad()
def tiled_encode(vae, pixels: torch.Tensor, *, seamless: bool, config: TilingConfig | None = None):
    """Encode pixels (B, 3, H, W) in [-1, 1] to the posterior mean, like ``vae.encode(...).mode()``."""
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    check_tileable(vae)
    runner = TiledRunner(vae, wrap=seamless, config=config or TilingConfig())
    moments = runner.encoder(vae.encoder, runner.to_store(pixels.to(dtype=runner.dtype)))
    moments = moments.to(runner.device)
    if vae.quant_conv is not None:
        moments = vae.quant_conv(moments)
    return DiagonalGaussianDistribution(moments).mode()


def check_tileable(vae) -> None:
    """Raise ``TilingUnsupportedError`` unless every layer of the VAE is one the runner reproduces."""
    from diffusers.models.downsampling import Downsample2D
    from diffusers.models.resnet import ResnetBlock2D
    from diffusers.models.upsampling import Upsample2D

    problems = []
    for name, module in vae.named_modules():
        if isinstance(module, ResnetBlock2D):
            resamples = module.upsample is not None or module.downsample is not None
            if resamples or module.time_emb_proj is not None:
                problems.append(f"{name} resamples or takes a time embedding")
            if not isinstance(module.nonlinearity, nn.SiLU) or not isinstance(module.norm1, nn.GroupNorm):
                problems.append(f"{name} is not GroupNorm + SiLU")
        elif isinstance(module, Upsample2D):
            plain = module.use_conv and not module.use_conv_transpose and module.interpolate
            if not plain or module.norm is not None:
                problems.append(f"{name} is not nearest ×2 + conv")
        elif isinstance(module, Downsample2D) and (not module.use_conv or module.norm is not None):
            problems.append(f"{name} is not a strided conv")
        elif isinstance(module, nn.Conv2d) and (module.dilation != (1, 1) or module.groups != 1):
            problems.append(f"{name} is dilated or grouped")
    for coder in (vae.encoder, vae.decoder):
        if not isinstance(coder.conv_norm_out, nn.GroupNorm) or not isinstance(coder.conv_act, nn.SiLU):
            problems.append(f"{type(coder).__name__} output norm is not GroupNorm + SiLU")
    if problems:
        raise TilingUnsupportedError(
            "This VAE cannot be decoded in tiles (" + "; ".join(problems[:4]) + "); decode it untiled."
        )


class TiledRunner:
    """Runs the VAE's layers one at a time over tiles; ``largest_region`` records the biggest tile read."""

    def __init__(self, vae, *, wrap: bool, config: TilingConfig) -> None:
        first = next(vae.parameters())
        self.device = first.device
        self.dtype = first.dtype
        self.store = self.device if config.store == "device" else torch.device("cpu")
        self.wrap = wrap
        self.budget = config.region_elements
        self.largest_region = 0

    def to_store(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(self.store)

    # --- the two halves of the VAE, following diffusers' Encoder.forward / Decoder.forward -----------

    def decoder(self, decoder, z: torch.Tensor) -> torch.Tensor:
        x = self.conv(z, decoder.conv_in)
        x = self.mid_block(decoder.mid_block, x)
        for up_block in decoder.up_blocks:
            for resnet in up_block.resnets:
                x = self.resnet(resnet, x)
            for upsampler in up_block.upsamplers or []:
                x = self.conv(x, upsampler.conv, upsample=2)
        stats = self.group_stats(x, decoder.conv_norm_out)
        return self.conv(x, decoder.conv_out, norm=(decoder.conv_norm_out, stats))

    def encoder(self, encoder, pixels: torch.Tensor) -> torch.Tensor:
        x = self.conv(pixels, encoder.conv_in)
        for down_block in encoder.down_blocks:
            for resnet in down_block.resnets:
                x = self.resnet(resnet, x)
            for downsampler in down_block.downsamplers or []:
                # Downsample2D with padding 0 zero-pads one column/row on the right/bottom only.
                pad = (0, 1, 0, 1) if downsampler.padding == 0 else None
                x = self.conv(x, downsampler.conv, pad=pad)
        x = self.mid_block(encoder.mid_block, x)
        stats = self.group_stats(x, encoder.conv_norm_out)
        return self.conv(x, encoder.conv_out, norm=(encoder.conv_norm_out, stats))

    def mid_block(self, block, x: torch.Tensor) -> torch.Tensor:
        x = self.resnet(block.resnets[0], x)
        for attention, resnet in zip(block.attentions, block.resnets[1:], strict=True):
            if attention is not None:
                # Global attention over the latent-resolution map: small enough to run whole.
                x = self.to_store(attention(x.to(self.device)))
            x = self.resnet(resnet, x)
        return x

    def resnet(self, block, x: torch.Tensor) -> torch.Tensor:
        hidden = self.conv(x, block.conv1, norm=(block.norm1, self.group_stats(x, block.norm1)))
        return self.conv(
            hidden,
            block.conv2,
            norm=(block.norm2, self.group_stats(hidden, block.norm2)),
            residual=(x, block.conv_shortcut),
            out_scale=block.output_scale_factor,
        )

    # --- primitives ---------------------------------------------------------------------------------

    def conv(
        self,
        x: torch.Tensor,
        conv: nn.Conv2d,
        *,
        norm: tuple[nn.GroupNorm, tuple[torch.Tensor, torch.Tensor]] | None = None,
        upsample: int = 1,
        pad: tuple[int, int, int, int] | None = None,
        residual: tuple[torch.Tensor, nn.Conv2d | None] | None = None,
        out_scale: float = 1.0,
    ) -> torch.Tensor:
        """``conv(silu(norm(upsample(x))))`` (+ residual) per tile; ``pad`` is (left, right, top, bottom)."""
        kh, kw = conv.kernel_size
        sh, sw = conv.stride
        if pad is None:
            ph, pw = conv.padding
            pad = (pw, pw, ph, ph)
        left, right, top, bottom = pad
        batch, channels, height, width = x.shape
        height, width = height * upsample, width * upsample
        out_h = (height + top + bottom - kh) // sh + 1
        out_w = (width + left + right - kw) // sw + 1
        tile_h, tile_w = self._tile_shape(channels, out_h, out_w, (kh, kw), (sh, sw))
        out = torch.empty(batch, conv.out_channels, out_h, out_w, device=self.store, dtype=self.dtype)
        for r0 in range(0, out_h, tile_h):
            r1 = min(r0 + tile_h, out_h)
            for c0 in range(0, out_w, tile_w):
                c1 = min(c0 + tile_w, out_w)
                rows = (r0 * sh - top, (r1 - 1) * sh - top + kh)
                cols = (c0 * sw - left, (c1 - 1) * sw - left + kw)
                region, zeros = self._gather(x, rows, cols, upsample)
                if norm is not None:
                    region = _group_norm_silu(region, *norm)
                # The conv's own zero padding comes after norm and activation, as in the untiled layer.
                region = F.pad(region, zeros)
                y = F.conv2d(region, conv.weight, conv.bias, stride=conv.stride)
                if residual is not None:
                    source, shortcut = residual
                    skip = source[:, :, r0:r1, c0:c1].to(self.device)
                    if shortcut is not None:
                        skip = shortcut(skip)
                    y = (skip + y) / out_scale
                out[:, :, r0:r1, c0:c1] = y.to(self.store)
        return out

    def group_stats(self, x: torch.Tensor, norm: nn.GroupNorm) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-(batch, group) mean and 1/std over the whole map, merged chunk by chunk (Chan et al.)."""
        batch, channels, height, width = x.shape
        groups = norm.num_groups
        rows = max(1, self.budget // max(1, channels * width))
        count = torch.zeros(batch, groups, dtype=torch.float64, device=self.device)
        mean = torch.zeros_like(count)
        m2 = torch.zeros_like(count)
        for r0 in range(0, height, rows):
            chunk = x[:, :, r0 : r0 + rows].to(self.device, torch.float32)
            chunk = chunk.reshape(batch, groups, -1)
            n = chunk.shape[-1]
            chunk_mean = chunk.mean(-1)
            chunk_m2 = ((chunk - chunk_mean[..., None]) ** 2).sum(-1)
            delta = chunk_mean.double() - mean
            total = count + n
            mean = mean + delta * (n / total)
            m2 = m2 + chunk_m2.double() + delta**2 * (count * n / total)
            count = total
        variance = m2 / count
        return mean.float(), torch.rsqrt(variance + norm.eps).float()

    def _tile_shape(self, channels: int, out_h: int, out_w: int, kernel, stride) -> tuple[int, int]:
        # Output tiles whose input region (halo included) stays within the element budget.
        (kh, kw), (sh, sw) = kernel, stride
        side = max(1, math.isqrt(self.budget // max(1, channels)))
        tile_w = min(out_w, max(1, (side - kw) // sw + 1))
        region_w = (tile_w - 1) * sw + kw
        rows_fit = self.budget // max(1, channels * region_w)
        tile_h = min(out_h, max(1, (rows_fit - kh) // sh + 1))
        return tile_h, tile_w

    def _gather(self, x: torch.Tensor, rows: tuple[int, int], cols: tuple[int, int], upsample: int):
        """Rows/cols of the (nearest-upsampled) map, and the zero padding the region still needs."""
        height, width = x.shape[-2] * upsample, x.shape[-1] * upsample
        r0, r1 = rows
        top, bottom = max(0, -r0), max(0, r1 - height)
        region = _axis_slice(x, 2, max(r0, 0), min(r1, height), upsample)
        c0, c1 = cols
        if self.wrap:
            left = right = 0
            # Column c of the panorama is column c mod W: at most three contiguous pieces.
            pieces, start = [], c0
            while start < c1:
                offset = start % width
                stop = min(c1, start + width - offset)
                pieces.append(_axis_slice(region, 3, offset, offset + stop - start, upsample))
                start = stop
            region = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=3)
        else:
            left, right = max(0, -c0), max(0, c1 - width)
            region = _axis_slice(region, 3, max(c0, 0), min(c1, width), upsample)
        region = region.to(self.device)
        padded = region.shape[1] * (region.shape[2] + top + bottom) * (region.shape[3] + left + right)
        self.largest_region = max(self.largest_region, padded)
        return region, (left, right, top, bottom)


def _axis_slice(x: torch.Tensor, dim: int, start: int, stop: int, upsample: int) -> torch.Tensor:
    """Indices [start, stop) of ``x`` nearest-upsampled ``upsample`` times along ``dim`` (a view if 1)."""
    if upsample == 1:
        return x.narrow(dim, start, stop - start)
    first, last = start // upsample, (stop - 1) // upsample
    source = x.narrow(dim, first, last - first + 1).repeat_interleave(upsample, dim=dim)
    return source.narrow(dim, start - first * upsample, stop - start)


def _group_norm_silu(x: torch.Tensor, norm: nn.GroupNorm, stats: tuple[torch.Tensor, torch.Tensor]):
    mean, rstd = stats
    batch, channels, height, width = x.shape
    grouped = x.float().reshape(batch, norm.num_groups, channels // norm.num_groups, height, width)
    normed = ((grouped - mean[:, :, None, None, None]) * rstd[:, :, None, None, None]).reshape(x.shape)
    if norm.affine:
        normed = normed * norm.weight.float()[None, :, None, None] + norm.bias.float()[None, :, None, None]
    return F.silu(normed).to(x.dtype)
