"""How a PanoramaEngine is built: the options fixed when the weights load, one type for every front end.

The app builds them from its settings (``from_settings``), the CLI and the cluster workers from command-line
arguments (``cli.generate.engine_options``); the engine takes nothing else. Memory tier, dtype, device and
the step cache are not here: they are fields of each request, may differ from one job to the next without a
new engine, and are recorded with every result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.request import ATTENTION_CHOICES


class EngineSettings(Protocol):
    """The saved settings ``from_settings`` reads (``dit360_desktop.settings.Settings`` has them)."""

    gguf_file: str | None
    compile_transformer: bool
    fuse_lora: bool


@dataclass(frozen=True)
class EngineOptions:
    # A GGUF file replaces the transformer weights in every tier.
    gguf_file: Path | None = None
    # torch.compile of the transformer blocks (core/speed.py).
    compile: bool = False
    # The attention kernel (ATTENTION_CHOICES; "auto": FlashAttention-3/2 when installed, else SDPA).
    attention: str = "auto"
    # Merge the LoRAs into the 16-bit weights: faster steps; a new LoRA or scale reloads the transformer.
    fuse_lora: bool = False
    # fp8 matmuls in the transformer on Hopper and newer (core/fp8_compute.py).
    fp8_compute: bool = False
    # The conditional and negative passes of true CFG in one batch (falls back to two on out of memory).
    batched_cfg: bool = True
    # Live previews of the denoising state (a cheap latent→RGB projection per step).
    previews: bool = True

    def __post_init__(self) -> None:
        if self.gguf_file is not None:
            object.__setattr__(self, "gguf_file", Path(self.gguf_file).expanduser())
        if self.attention not in ATTENTION_CHOICES:
            choices = ", ".join(ATTENTION_CHOICES)
            raise RequestError("attention", f"must be one of {choices} (got {self.attention!r})")

    @classmethod
    def from_settings(cls, settings: EngineSettings) -> EngineOptions:
        return cls(
            gguf_file=Path(settings.gguf_file) if settings.gguf_file else None,
            compile=settings.compile_transformer,
            fuse_lora=settings.fuse_lora,
        )
