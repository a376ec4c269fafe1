"""Results without the engine: a small deterministic image plus the metadata the engine would attach."""

from __future__ import annotations

import numpy as np
from PIL import Image

from dit360_desktop.core.request import GenerationRequest
from dit360_desktop.core.result import Result


def make_image(width: int = 64, height: int = 32, seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x + y) % 256], axis=-1)
    noise = rng.integers(0, 16, size=(height, width, 3))
    return Image.fromarray(((base + noise) % 256).astype(np.uint8), "RGB")


def make_result(
    prompt: str = "This is a panorama image. A quiet beach at sunset",
    seed: int = 1,
    *,
    negative_prompt: str = "",
    width: int = 64,
    height: int = 32,
    steps: int = 28,
) -> Result:
    request = GenerationRequest(
        prompt=prompt, negative_prompt=negative_prompt, seed=seed, width=width, height=height, steps=steps
    )
    metadata = {
        "request": request.to_dict(),
        "seed": seed,
        "models": {"base": {"name": "black-forest-labs/FLUX.1-dev", "path": "/models/flux"}},
        "timings": {"denoising": 1.25, "decoding": 0.5},
        "versions": {"app": "0.1.0"},
        "warnings": [],
    }
    return Result(image=make_image(width, height, seed), request=request, metadata=metadata, latent=None)
