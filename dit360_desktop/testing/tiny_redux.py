"""A FLUX.1-Redux-dev-shaped diffusers folder with random weights, small enough for a CPU.

``image_encoder/`` (SiglipVisionModel), ``feature_extractor/`` (SiglipImageProcessor) and
``image_embedder/`` (ReduxImageEncoder) as in black-forest-labs/FLUX.1-Redux-dev, at tiny sizes; the
embedder's output width is the tiny FLUX's T5 width unless ``text_dim`` says otherwise (another base).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from dit360_desktop.testing.tiny_flux import TINY


def build_tiny_redux(folder: str | Path, *, text_dim: int = TINY.text_dim, seed: int = 11) -> Path:
    from diffusers.pipelines.flux.modeling_flux import ReduxImageEncoder
    from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    folder = Path(folder)
    torch.manual_seed(seed)
    config = SiglipVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        image_size=32, patch_size=8,
    )  # fmt: skip
    SiglipVisionModel(config).save_pretrained(folder / "image_encoder", safe_serialization=True)
    SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder / "feature_extractor")
    embedder = ReduxImageEncoder(redux_dim=16, txt_in_features=text_dim)
    embedder.save_pretrained(folder / "image_embedder", safe_serialization=True)
    index = {
        "_class_name": "FluxPriorReduxPipeline",
        "feature_extractor": ["transformers", "SiglipImageProcessor"],
        "image_embedder": ["flux", "ReduxImageEncoder"],
        "image_encoder": ["transformers", "SiglipVisionModel"],
    }
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))
    return folder
