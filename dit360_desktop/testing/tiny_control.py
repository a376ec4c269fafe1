"""Random FLUX.1 Control LoRAs for tests: one that fits the tiny FLUX, one in BFL's layout for full size.

``build_tiny_control_lora`` writes diffusers' PEFT keys (what diffusers converts BFL's file into): a
widened ``x_embedder`` (twice the model's input channels), attention projections, and the norm scales
that Control LoRAs replace. ``build_bfl_control_lora`` writes BFL's own key layout
(``img_in``, ``double_blocks.N.img_attn.qkv``, ``…norm.query_norm.scale``) at the full FLUX.1-dev sizes
with rank 2: a Control LoRA for another base, as far as the tiny model is concerned.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch


def build_tiny_control_lora(
    path: str | Path, transformer_folder: str | Path, *, rank: int = 4, seed: int = 7
) -> Path:
    from safetensors.torch import save_file

    config = json.loads((Path(transformer_folder) / "config.json").read_text())
    inner = config["num_attention_heads"] * config["attention_head_dim"]
    generator = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}

    def add(module: str, fan_in: int, fan_out: int) -> None:
        tensors[f"transformer.{module}.lora_A.weight"] = torch.randn(rank, fan_in, generator=generator) * 0.1
        tensors[f"transformer.{module}.lora_B.weight"] = torch.randn(fan_out, rank, generator=generator) * 0.1

    add("x_embedder", 2 * config["in_channels"], inner)
    for i in range(config["num_layers"]):
        for target in ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj"):
            add(f"transformer_blocks.{i}.attn.{target}", inner, inner)
        for norm in ("norm_q", "norm_k", "norm_added_q", "norm_added_k"):
            tensors[f"transformer.transformer_blocks.{i}.attn.{norm}.weight"] = 1.0 + 0.2 * torch.randn(
                config["attention_head_dim"], generator=generator
            )
    for i in range(config["num_single_layers"]):
        for target in ("to_q", "to_k", "to_v"):
            add(f"single_transformer_blocks.{i}.attn.{target}", inner, inner)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path


def build_bfl_control_lora(path: str | Path, *, seed: int = 3) -> Path:
    """BFL's layout at FLUX.1-dev's sizes (19 double, 38 single blocks, width 3072), rank 2 (the final
    modulation is split in two along the rank), fp16."""
    from safetensors.torch import save_file

    inner, mlp, head = 3072, 12288, 128
    generator = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}

    def add(module: str, fan_in: int, fan_out: int) -> None:
        tensors[f"{module}.lora_A.weight"] = (torch.randn(2, fan_in, generator=generator) * 0.01).half()
        tensors[f"{module}.lora_B.weight"] = (torch.randn(fan_out, 2, generator=generator) * 0.01).half()

    add("img_in", 128, inner)
    add("txt_in", 4096, inner)
    for name, fan_in in (("time_in", 256), ("vector_in", 768), ("guidance_in", 256)):
        add(f"{name}.in_layer", fan_in, inner)
        add(f"{name}.out_layer", inner, inner)
    for i in range(19):
        for side in ("img", "txt"):
            add(f"double_blocks.{i}.{side}_mod.lin", inner, 6 * inner)
            add(f"double_blocks.{i}.{side}_attn.qkv", inner, 3 * inner)
            add(f"double_blocks.{i}.{side}_attn.proj", inner, inner)
            add(f"double_blocks.{i}.{side}_mlp.0", inner, mlp)
            add(f"double_blocks.{i}.{side}_mlp.2", mlp, inner)
            for norm in ("query_norm", "key_norm"):
                tensors[f"double_blocks.{i}.{side}_attn.norm.{norm}.scale"] = torch.ones(head).half()
    for i in range(38):
        add(f"single_blocks.{i}.linear1", inner, 3 * inner + mlp)
        add(f"single_blocks.{i}.linear2", inner + mlp, inner)
        add(f"single_blocks.{i}.modulation.lin", inner, 3 * inner)
        for norm in ("query_norm", "key_norm"):
            tensors[f"single_blocks.{i}.norm.{norm}.scale"] = torch.ones(head).half()
    add("final_layer.linear", inner, 64)
    add("final_layer.adaLN_modulation.1", inner, 2 * inner)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path
