"""FLUX.1 transformers from GGUF files (Q8_0, Q5_K, Q4_K, …), loaded strictly through diffusers.

GGUF files for FLUX (e.g. city96/FLUX.1-dev-gguf, written by ComfyUI-GGUF's converter) store the
Black Forest Labs key layout of ``flux1-dev.safetensors`` (``double_blocks.N.img_attn.qkv.weight`` …),
sometimes under a ``model.diffusion_model.`` prefix, and set ``general.architecture = "flux"``.
diffusers' own converter (``convert_flux_transformer_checkpoint_to_diffusers``) hard-codes the
full-size inner width 3072, so we map the keys here from the model's config instead, check every key
and shape against the config, and hand diffusers an already-converted state dict:
``FluxTransformer2DModel.from_single_file(state_dict, config=…, quantization_config=GGUFQuantizationConfig)``
then keeps the quantised weights in ``GGUFLinear`` layers that dequantise on the fly.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from dit360_desktop.panorama.errors import ModelInvalidError, ModelMissingError

log = logging.getLogger(__name__)

BFL_PREFIX = "model.diffusion_model."
FLUX_MLP_RATIO = 4  # FLUX.1 single blocks: linear1 = q, k, v (inner each) + MLP (4·inner)
_READ_ERRORS = (ValueError, OSError, IndexError, KeyError, UnicodeDecodeError)


@dataclass(frozen=True)
class GGUFInfo:
    path: Path
    architecture: str | None
    layout: str  # "bfl" or "diffusers"
    quant_types: dict[str, int]  # e.g. {"Q8_0": 304, "F32": 476}
    tensors: int


def inspect_gguf(path: str | Path) -> GGUFInfo:
    """Read a GGUF file's header and tensor table; ``ModelInvalidError`` unless it is a FLUX.1 transformer."""
    try:
        from gguf import GGUFReader
    except ImportError as e:
        raise ModelMissingError(
            "GGUF transformers need the gguf package: install it with `pip install 'dit360-desktop[gguf]'`."
        ) from e

    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelMissingError(f"The GGUF file {path} does not exist.")
    try:
        reader = GGUFReader(str(path))
        names = [tensor.name for tensor in reader.tensors]
        types = Counter(tensor.tensor_type.name for tensor in reader.tensors)
        arch_field = reader.fields.get("general.architecture")
        architecture = bytes(arch_field.parts[arch_field.data[0]]).decode() if arch_field else None
    except _READ_ERRORS as e:
        raise ModelInvalidError(
            f"{path.name} is not a readable GGUF file ({e}). It may be incomplete: download it again."
        ) from e
    if architecture is not None and architecture != "flux":
        raise ModelInvalidError(
            f"{path.name} is a GGUF model for the '{architecture}' architecture, not a FLUX.1 transformer."
        )
    layout = _layout(names)
    if layout is None:
        shown = ", ".join(names[:4]) or "no tensors"
        raise ModelInvalidError(
            f"{path.name} does not hold a FLUX.1 transformer (its tensors are {shown}, …)."
        )
    from diffusers.quantizers.gguf.utils import SUPPORTED_GGUF_QUANT_TYPES

    readable = {t.name for t in SUPPORTED_GGUF_QUANT_TYPES} | {"F32", "F16"}
    unsupported = sorted(set(types) - readable)
    if unsupported:
        raise ModelInvalidError(
            f"{path.name} uses the quantisation {', '.join(unsupported)}, which diffusers cannot read; "
            "use a Q8_0, Q6_K, Q5_K, Q4_K or Q4_0 file."
        )
    return GGUFInfo(path, architecture, layout, dict(types), len(names))


def load_gguf_transformer(
    path: str | Path,
    config_dir: str | Path,
    *,
    compute_dtype: torch.dtype,
    device: torch.device | str = "cpu",
):
    """A FluxTransformer2DModel whose Linear weights stay quantised; ``config_dir`` holds config.json."""
    from diffusers import FluxTransformer2DModel, GGUFQuantizationConfig
    from diffusers.models.model_loading_utils import load_gguf_checkpoint

    info = inspect_gguf(path)
    config_dir = Path(config_dir)
    config = json.loads((config_dir / "config.json").read_text())
    try:
        raw = load_gguf_checkpoint(str(info.path))
    except _READ_ERRORS as e:
        raise ModelInvalidError(f"The tensors in {info.path.name} could not be read ({e}).") from e
    raw = {k.removeprefix(BFL_PREFIX): v for k, v in raw.items()}
    state = bfl_to_diffusers(raw, config, source=info.path.name) if info.layout == "bfl" else raw
    check_against_config(state, config, source=info.path.name)
    model = FluxTransformer2DModel.from_single_file(
        state,
        config=str(config_dir.parent),
        subfolder=config_dir.name,
        local_files_only=True,
        dtype=compute_dtype,
        quantization_config=GGUFQuantizationConfig(compute_dtype=compute_dtype),
        device=torch.device(device),
    )
    left_empty = [name for name, param in model.named_parameters() if param.is_meta]
    if left_empty:
        raise ModelInvalidError(f"{info.path.name} left weights unset: {', '.join(left_empty[:6])}.")
    log.info("Loaded GGUF transformer %s (%s)", info.path.name, info.quant_types)
    return model.eval()


def logical_shape(tensor: torch.Tensor) -> tuple[int, ...]:
    """The dequantised shape: GGUF quantised tensors are stored as (rows, bytes per row)."""
    return tuple(getattr(tensor, "quant_shape", tensor.shape))


def check_against_config(state: dict[str, torch.Tensor], config: dict, *, source: str) -> None:
    """Every key the config's model has must be present with its shape, and nothing else."""
    from accelerate import init_empty_weights
    from diffusers import FluxTransformer2DModel

    with init_empty_weights():
        empty = FluxTransformer2DModel.from_config(config)
    expected = {name: tuple(t.shape) for name, t in empty.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{name} {logical_shape(state[name])} vs {expected[name]}"
        for name in sorted(set(expected) & set(state))
        if logical_shape(state[name]) != expected[name]
    ]
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if items:
            more = f" and {len(items) - 4} more" if len(items) > 4 else ""
            problems.append(f"{label}: {', '.join(items[:4])}{more}")
    if problems:
        raise ModelInvalidError(
            f"{source} does not match the FLUX.1-dev transformer config ({'; '.join(problems)}). "
            "Is it a GGUF of FLUX.1-dev (not schnell, Fill or another model)?"
        )


def bfl_to_diffusers(state: dict[str, torch.Tensor], config: dict, *, source: str) -> dict[str, torch.Tensor]:
    """Map Black Forest Labs FLUX.1 keys to diffusers' FluxTransformer2DModel keys, splitting fused layers."""
    inner = config["num_attention_heads"] * config["attention_head_dim"]
    source_keys = dict(state)
    out: dict[str, torch.Tensor] = {}

    def take(key: str) -> torch.Tensor:
        if key not in source_keys:
            raise ModelInvalidError(
                f"{source} lacks the tensor {key}; it is not a complete FLUX.1 transformer."
            )
        return source_keys.pop(key)

    def rename(old: str, new: str) -> None:
        for suffix in ("weight", "bias"):
            if f"{old}.{suffix}" in source_keys:
                out[f"{new}.{suffix}"] = take(f"{old}.{suffix}")

    def split(old: str, new: list[str], sizes: list[int]) -> None:
        for suffix in ("weight", "bias"):
            fused = take(f"{old}.{suffix}")
            if logical_shape(fused)[0] != sum(sizes):
                raise ModelInvalidError(
                    f"{source}: {old}.{suffix} has {logical_shape(fused)[0]} rows where this FLUX.1 config "
                    f"needs {sum(sizes)}; the file is for a different model size."
                )
            parts = torch.split(fused, sizes, dim=0)
            for name, part in zip(new, parts, strict=True):
                out[f"{name}.{suffix}"] = part

    for bfl, ours in (
        ("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1"),
        ("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2"),
        ("vector_in.in_layer", "time_text_embed.text_embedder.linear_1"),
        ("vector_in.out_layer", "time_text_embed.text_embedder.linear_2"),
        ("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1"),
        ("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2"),
        ("txt_in", "context_embedder"),
        ("img_in", "x_embedder"),
        ("final_layer.linear", "proj_out"),
    ):
        rename(bfl, ours)
    # BFL's final AdaLN emits (shift, scale); diffusers' AdaLayerNormContinuous expects (scale, shift).
    for suffix in ("weight", "bias"):
        shift, scale = torch.chunk(take(f"final_layer.adaLN_modulation.1.{suffix}"), 2, dim=0)
        out[f"norm_out.linear.{suffix}"] = torch.cat([scale, shift], dim=0)

    for i in range(_count_blocks(source_keys, "double_blocks.")):
        old, new = f"double_blocks.{i}.", f"transformer_blocks.{i}."
        for bfl, ours in (
            ("img_mod.lin", "norm1.linear"),
            ("txt_mod.lin", "norm1_context.linear"),
            ("img_attn.proj", "attn.to_out.0"),
            ("txt_attn.proj", "attn.to_add_out"),
            ("img_mlp.0", "ff.net.0.proj"),
            ("img_mlp.2", "ff.net.2"),
            ("txt_mlp.0", "ff_context.net.0.proj"),
            ("txt_mlp.2", "ff_context.net.2"),
        ):
            rename(old + bfl, new + ours)
        split(old + "img_attn.qkv", [new + "attn.to_q", new + "attn.to_k", new + "attn.to_v"], [inner] * 3)
        split(
            old + "txt_attn.qkv",
            [new + "attn.add_q_proj", new + "attn.add_k_proj", new + "attn.add_v_proj"],
            [inner] * 3,
        )
        for bfl, ours in (
            ("img_attn.norm.query_norm", "attn.norm_q"),
            ("img_attn.norm.key_norm", "attn.norm_k"),
            ("txt_attn.norm.query_norm", "attn.norm_added_q"),
            ("txt_attn.norm.key_norm", "attn.norm_added_k"),
        ):
            out[f"{new}{ours}.weight"] = take(f"{old}{bfl}.scale")

    for i in range(_count_blocks(source_keys, "single_blocks.")):
        old, new = f"single_blocks.{i}.", f"single_transformer_blocks.{i}."
        rename(old + "modulation.lin", new + "norm.linear")
        rename(old + "linear2", new + "proj_out")
        split(
            old + "linear1",
            [new + "attn.to_q", new + "attn.to_k", new + "attn.to_v", new + "proj_mlp"],
            [inner, inner, inner, FLUX_MLP_RATIO * inner],
        )
        out[f"{new}attn.norm_q.weight"] = take(f"{old}norm.query_norm.scale")
        out[f"{new}attn.norm_k.weight"] = take(f"{old}norm.key_norm.scale")

    # Whatever is left was not consumed by the mapping: report it as unexpected.
    out.update(source_keys)
    return out


def _count_blocks(keys, prefix: str) -> int:
    indices = {int(k[len(prefix) :].split(".", 1)[0]) for k in keys if k.startswith(prefix)}
    return max(indices) + 1 if indices else 0


def _layout(names: list[str]) -> str | None:
    stripped = {n.removeprefix(BFL_PREFIX) for n in names}
    if any(n.startswith("double_blocks.") and ".img_attn." in n for n in stripped):
        return "bfl"
    if any(n.startswith("transformer_blocks.") and ".attn.to_q." in n for n in stripped):
        return "diffusers"
    return None
