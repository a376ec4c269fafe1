"""Full-size FLUX.1-dev (or reduced configs) with random weights, built straight on the device, for the
GPU benchmark (``gpu_tiers.py``): nothing is downloaded, nothing is allocated in fp32 on the CPU first.

The transformer, T5-XXL, CLIP-L and the VAE are built from ``resources/model_configs/flux1-dev`` on the
meta device, materialised with ``to_empty`` in the run's dtype and filled with small random values;
``fake_load_components`` stands in for ``loading.load_components`` with the same contract.
"""

from __future__ import annotations

import gc
import json
from dataclasses import dataclass
from pathlib import Path

import torch

CONFIG_FILES = {
    "transformer": "transformer/config.json",
    "vae": "vae/config.json",
    "text_encoder": "text_encoder/config.json",
    "text_encoder_2": "text_encoder_2/config.json",
    "scheduler": "scheduler/scheduler_config.json",
}
# Reduced sizes for CPU runs: the same layer types and code paths, fewer and narrower layers.
REDUCED = {
    "small": {
        "transformer": dict(
            num_layers=2,
            num_single_layers=4,
            num_attention_heads=4,
            attention_head_dim=64,
            joint_attention_dim=256,
            pooled_projection_dim=256,
            axes_dims_rope=[16, 24, 24],
        ),
        "text_encoder_2": dict(
            d_model=256, d_ff=512, d_kv=64, num_heads=4, num_layers=2, num_decoder_layers=2
        ),
        "text_encoder": dict(
            hidden_size=256,
            intermediate_size=512,
            num_attention_heads=4,
            num_hidden_layers=2,
            projection_dim=256,
        ),
        "vae": dict(block_out_channels=[32, 64, 64, 64], norm_num_groups=32, layers_per_block=1),
    },
    "tiny": {
        "transformer": dict(
            num_layers=1,
            num_single_layers=1,
            num_attention_heads=2,
            attention_head_dim=16,
            joint_attention_dim=32,
            pooled_projection_dim=32,
            axes_dims_rope=[4, 4, 8],
        ),
        "text_encoder_2": dict(d_model=32, d_ff=64, d_kv=8, num_heads=4, num_layers=1, num_decoder_layers=1),
        "text_encoder": dict(
            hidden_size=32,
            intermediate_size=64,
            num_attention_heads=2,
            num_hidden_layers=1,
            projection_dim=32,
        ),
        "vae": dict(block_out_channels=[8, 16, 16, 16], norm_num_groups=8, layers_per_block=1),
    },
}


@dataclass
class Sizes:
    configs: dict[str, dict]
    width: int
    height: int
    lora_rank: int


def load_configs(size: str) -> dict[str, dict]:
    from dit360_desktop.paths import resource

    configs = {
        name: json.loads(resource("model_configs", "flux1-dev", *path.split("/")).read_text())
        for name, path in CONFIG_FILES.items()
    }
    for name, changes in REDUCED.get(size, {}).items():
        configs[name] = {**configs[name], **changes}
    return configs


# --- random full-size components ----------------------------------------------------------------------


def fill_random_(module: torch.nn.Module, seed: int) -> None:
    """Small random weights; norm scales 1 and biases 0 keep activations finite even in fp16."""
    device = next(module.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            if param.ndim == 1:
                param.fill_(1.0 if name.endswith(("weight", "scale")) else 0.0)
            else:
                param.normal_(0.0, 0.02, generator=generator)


def materialise(factory, dtype: torch.dtype, device: torch.device, seed: int) -> torch.nn.Module:
    """Build on the meta device, cast there, and allocate only once: on ``device`` in ``dtype``."""
    with torch.device("meta"):
        module = factory()
    module = module.to(dtype=dtype).to_empty(device=device)
    # to_empty leaves buffers uninitialised; these models must have none.
    assert not list(module.buffers()), f"{type(module).__name__} has buffers to initialise"
    fill_random_(module, seed)
    return module.eval()


def builders(configs: dict[str, dict], device: torch.device):
    from diffusers import AutoencoderKL, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    def transformer(dtype):
        return materialise(
            lambda: FluxTransformer2DModel.from_config(configs["transformer"]), dtype, device, 1
        )

    def t5(dtype):
        return materialise(lambda: T5EncoderModel(T5Config(**configs["text_encoder_2"])), dtype, device, 2)

    def clip(dtype):
        # 0.12 B parameters with a position-id buffer: built normally (small), then moved.
        model = CLIPTextModel(CLIPTextConfig(**configs["text_encoder"]))
        return model.to(device=device, dtype=dtype).eval()

    def vae(dtype):
        return AutoencoderKL.from_config(configs["vae"]).to(device=device, dtype=dtype).eval()

    return {"text_encoder": clip, "text_encoder_2": t5, "transformer": transformer, "vae": vae}


def random_gguf_transformer(configs, folder: Path, quant: str, dtype: torch.dtype, device: torch.device):
    """A GGUF-quantised transformer from random but valid quant blocks, loaded by diffusers' GGUF path."""
    import gguf
    from diffusers import FluxTransformer2DModel, GGUFQuantizationConfig
    from diffusers.quantizers.gguf.utils import GGUFParameter

    qtype = gguf.GGMLQuantizationType[quant]
    block, type_size = gguf.GGML_QUANT_SIZES[qtype]
    with torch.device("meta"):
        empty = FluxTransformer2DModel.from_config(configs["transformer"])
    generator = torch.Generator(device=device).manual_seed(3)
    scale = torch.tensor([0.002], dtype=torch.float16).view(torch.uint8).to(device)
    state = {}
    for name, tensor in empty.state_dict().items():
        if tensor.ndim == 2 and tensor.shape[1] % block == 0 and name.endswith(".weight"):
            rows, blocks = tensor.shape[0], tensor.shape[1] // block
            data = torch.randint(
                0, 256, (rows * blocks, type_size), dtype=torch.uint8, device=device, generator=generator
            )
            data[:, 0:2] = scale  # the fp16 super-block scale d (and, for K-quants, dmin next to it)
            if quant.endswith("_K"):
                data[:, 2:4] = scale
            state[name] = GGUFParameter(data.reshape(rows, blocks * type_size), quant_type=qtype)
        else:
            value = torch.empty(tensor.shape, dtype=dtype, device=device)
            state[name] = value.fill_(1.0) if tensor.ndim == 1 and "norm" in name else value.normal_(0, 0.02)
    return FluxTransformer2DModel.from_single_file(
        state,
        config=str(folder),
        subfolder="transformer",
        local_files_only=True,
        dtype=dtype,
        quantization_config=GGUFQuantizationConfig(compute_dtype=dtype),
        device=device,
    ).eval()


def write_model_folder(
    root: Path, configs: dict[str, dict], lora_rank: int, tokenizers: Path | None = None
) -> tuple[Path, Path]:
    """Configs, scheduler and tokenizers (trained locally) in the diffusers layout; plus a random LoRA.

    The tokenizers come from a tiny-FLUX folder (``tokenizers``, or one built here): their ids fit the
    real vocabularies, and they pad to the real 77 and 512 tokens, which is what the cost depends on.
    """
    import shutil

    from dit360_desktop.testing.tiny_flux import build_tiny_flux, build_tiny_lora

    tokenizers = tokenizers or build_tiny_flux(root / "tokenizer-source")
    folder = root / "FLUX.1-dev-random"
    for name in ("tokenizer", "tokenizer_2"):
        shutil.copytree(tokenizers / name, folder / name)
    shutil.copy(tokenizers / "model_index.json", folder / "model_index.json")
    for name, path in CONFIG_FILES.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(json.dumps(configs[name], indent=2))
    lora = build_tiny_lora(root / "DiT360-random-lora", folder / "transformer", rank=lora_rank)
    return folder, lora


def fake_load_components(configs, build_device: torch.device):
    """Stands in for ``loading.load_components``: same contract, random weights instead of files."""
    from transformers import CLIPTokenizer, T5TokenizerFast

    from dit360_desktop.core.loading import Components

    def load_components(
        folder, *, device, dtype, on_progress=None, check_cancel=None, place=None, load_transformer_from=None
    ):
        build = builders(configs, build_device)
        loaded = {}
        for name in ("text_encoder", "text_encoder_2", "transformer", "vae"):
            if on_progress is not None:
                on_progress(name)
            if name == "transformer" and load_transformer_from is not None:
                module = load_transformer_from()
            else:
                module = build[name](dtype)
            loaded[name] = place(name, module) if place is not None else module.to(device)
            free(build_device)
        return Components(
            folder=folder,
            tokenizer=CLIPTokenizer.from_pretrained(folder / "tokenizer"),
            tokenizer_2=T5TokenizerFast.from_pretrained(folder / "tokenizer_2"),
            scheduler_config=configs["scheduler"],
            **loaded,
        )

    return load_components


def free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
