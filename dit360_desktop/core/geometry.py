"""Latent and token-grid sizes of a request, derived from the VAE config as the reference pipeline does."""

from __future__ import annotations

from typing import Any

from dit360_desktop.panorama.request import GenerationRequest


class LatentGeometry:
    def __init__(self, height: int, width: int) -> None:
        self.height = height  # latent rows h
        self.width = width  # latent cols w
        self.rows = height // 2
        self.cols = width // 2
        # The scheduler's shift is computed from the sequence length with the two wrap columns.
        self.padded_seq_len = self.rows * (self.cols + 2)

    @classmethod
    def for_request(cls, vae: Any, request: GenerationRequest) -> LatentGeometry:
        factor = 2 ** (len(vae.config.block_out_channels) - 1)
        return cls(2 * (request.height // (factor * 2)), 2 * (request.width // (factor * 2)))
