"""Write a tiny random-weight super-resolution model as safetensors, built from spandrel's own
Real-ESRGAN Compact (SRVGGNetCompact) class, so the real loading path (spandrel's ModelLoader detecting
the architecture from the keys) reads it unchanged. Nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import torch


def build_tiny_sr(path: Path, *, scale: int = 4, num_feat: int = 8, num_conv: int = 2, seed: int = 0) -> Path:
    """A ×``scale`` Compact network with ``num_conv`` hidden 3×3 convolutions (receptive field radius
    ``num_conv + 2`` pixels); its output is the nearest-neighbour upscale plus a learned-looking residual."""
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact

    generator = torch.Generator().manual_seed(seed)
    model = Compact(num_in_ch=3, num_out_ch=3, num_feat=num_feat, num_conv=num_conv, upscale=scale)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("weight") and tensor.ndim == 4:
                # Small enough that the residual adds texture without swamping the image.
                fan_in = tensor.shape[1] * tensor.shape[2] * tensor.shape[3]
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * (0.5 / fan_in**0.5))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path
