"""Write a tiny random-weight Depth Anything V2 folder (config.json, model.safetensors and the image
processor's preprocessor_config.json), built from transformers' own ``DepthAnythingConfig``, so the real
loading path (``core/depth/model.py``, ``from_pretrained``) reads it unchanged. Nothing is downloaded."""

from __future__ import annotations

from pathlib import Path


def build_tiny_depth(
    folder: Path,
    *,
    seed: int = 0,
    image_size: int = 56,
    metric: bool = False,
    hidden_size: int = 32,
    max_depth: float = 20,
) -> Path:
    """A two-layer DINOv2 backbone (``hidden_size`` wide; 384 is Small's width) with the DPT neck and head;
    views of ``image_size`` pixels. A ``metric`` model's head is scaled to ``max_depth`` metres (20 as the
    published indoor models, 80 as the outdoor ones)."""
    import torch
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
    )

    backbone = Dinov2Config(
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden_size,
        image_size=image_size,
        patch_size=14,
        out_indices=[1, 2],
        reshape_hidden_states=False,
        apply_layernorm=True,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=32,
        reassemble_factors=[2, 1],
        neck_hidden_sizes=[16, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
        depth_estimation_type="metric" if metric else "relative",
        max_depth=max_depth if metric else 1,
    )
    torch.manual_seed(seed)
    model = DepthAnythingForDepthEstimation(config).eval()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    DPTImageProcessor(
        do_resize=True,
        size={"height": image_size, "width": image_size},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        resample=3,
        do_rescale=True,
        do_normalize=True,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
        do_pad=False,
    ).save_pretrained(folder)
    return folder
