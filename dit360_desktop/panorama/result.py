"""The finished panorama and everything needed to reproduce it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from dit360_desktop.panorama.request import GenerationRequest


@dataclass(frozen=True)
class Result:
    image: Image.Image
    # The request as run: the seed is always the one actually used.
    request: GenerationRequest
    # JSON-serialisable: "request" (every field), "seed", "models" (names, paths, sha256 when known),
    # "timings" (seconds per stage), "versions" (app, torch, diffusers, transformers), "warnings".
    metadata: dict[str, Any]
    # Final unpacked latent (1, C, H/8, W/8), pads dropped, before VAE un-scaling; on the CPU.
    latent: Any = field(default=None, repr=False)
