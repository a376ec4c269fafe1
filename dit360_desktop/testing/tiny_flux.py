"""Write a FLUX.1-dev-shaped diffusers folder with random weights, small enough for a CPU.

The folder has the same layout, class names and config keys as ``black-forest-labs/FLUX.1-dev``, so the
real loading code (ours, and diffusers' ``FluxPipeline.from_pretrained``) reads it unchanged. Nothing is
downloaded: tokenizers are trained here with the ``tokenizers`` library.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

_CORPUS = [
    "this is a panorama image of a medieval castle on a hill at sunset with golden light",
    "a beach with palm trees and the blue sea under a cloudy sky, waves, sand",
    "mountains, forest, lake, snow, city streets at night, neon, stars, desert dunes",
    "interior of a cathedral, a living room, a spaceship corridor, a library with books",
]


@dataclass(frozen=True)
class FluxSize:
    """Dimensions of a FLUX-shaped model; ``TINY`` for tests, ``SMALL`` for CPU benchmarks."""

    latent_channels: int = 16
    vae_block_out: tuple[int, ...] = (8, 16, 16, 16)
    layers: int = 1
    single_layers: int = 1
    heads: int = 2
    head_dim: int = 16
    axes_dims_rope: tuple[int, int, int] = (4, 4, 8)
    text_dim: int = 32
    clip_layers: int = 2
    t5_layers: int = 2


TINY = FluxSize()
SMALL = FluxSize(
    vae_block_out=(32, 64, 64, 64),
    layers=2,
    single_layers=4,
    heads=4,
    head_dim=64,
    axes_dims_rope=(16, 24, 24),
    text_dim=256,
    clip_layers=2,
    t5_layers=2,
)


def build_tiny_flux(folder: str | Path, *, size: FluxSize = TINY, seed: int = 0) -> Path:
    """Create the diffusers folder and return its path. Deterministic for a given seed."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    clip_vocab, t5_vocab = _write_tokenizers(folder)

    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=4 * size.latent_channels,
        num_layers=size.layers,
        num_single_layers=size.single_layers,
        attention_head_dim=size.head_dim,
        num_attention_heads=size.heads,
        joint_attention_dim=size.text_dim,
        pooled_projection_dim=size.text_dim,
        guidance_embeds=True,
        axes_dims_rope=size.axes_dims_rope,
    )
    _randomise_zero_inits(transformer, seed)
    transformer.save_pretrained(folder / "transformer", safe_serialization=True)

    blocks = len(size.vae_block_out)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks,
        block_out_channels=size.vae_block_out,
        layers_per_block=1,
        latent_channels=size.latent_channels,
        norm_num_groups=min(size.vae_block_out),
        sample_size=64,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.1159,
        scaling_factor=0.3611,
    )
    vae.save_pretrained(folder / "vae", safe_serialization=True)

    clip = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=clip_vocab,
            hidden_size=size.text_dim,
            intermediate_size=2 * size.text_dim,
            num_hidden_layers=size.clip_layers,
            num_attention_heads=2,
            max_position_embeddings=77,
            projection_dim=size.text_dim,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_act="quick_gelu",
        )
    )
    clip.save_pretrained(folder / "text_encoder", safe_serialization=True)

    t5 = T5EncoderModel(
        T5Config(
            vocab_size=t5_vocab,
            d_model=size.text_dim,
            d_kv=size.text_dim // 4,
            d_ff=2 * size.text_dim,
            num_layers=size.t5_layers,
            num_heads=4,
            feed_forward_proj="gated-gelu",
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    )
    t5.save_pretrained(folder / "text_encoder_2", safe_serialization=True)

    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        shift=3.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
    )
    scheduler.save_pretrained(folder / "scheduler")

    model_index = {
        "_class_name": "FluxPipeline",
        "_diffusers_version": "0.30.0.dev0",
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "T5EncoderModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "tokenizer_2": ["transformers", "T5TokenizerFast"],
        "transformer": ["diffusers", "FluxTransformer2DModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    (folder / "model_index.json").write_text(json.dumps(model_index, indent=2))
    return folder


def build_tiny_lora(
    path: str | Path,
    transformer_folder: str | Path,
    *,
    rank: int = 4,
    seed: int = 1,
    peft_folder: bool = True,
) -> Path:
    """Write a LoRA in DiT360's layout: PEFT keys ``transformer.<module>.lora_A/B.weight`` on attention.

    With ``peft_folder`` the result is ``adapter_config.json`` + ``adapter_model.safetensors`` in ``path``;
    otherwise ``path`` is a single ``.safetensors`` file with the same keys.
    """
    from safetensors.torch import save_file

    config = json.loads((Path(transformer_folder) / "config.json").read_text())
    inner = config["num_attention_heads"] * config["attention_head_dim"]
    targets = ["to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out"]
    generator = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}

    def add(module: str, fan_in: int, fan_out: int) -> None:
        # Non-zero B (unlike a fresh PEFT init) so that the LoRA visibly changes the output.
        tensors[f"transformer.{module}.lora_A.weight"] = torch.randn(rank, fan_in, generator=generator) * 0.05
        tensors[f"transformer.{module}.lora_B.weight"] = (
            torch.randn(fan_out, rank, generator=generator) * 0.05
        )

    for i in range(config["num_layers"]):
        for target in targets:
            add(f"transformer_blocks.{i}.attn.{target}", inner, inner)
    for i in range(config["num_single_layers"]):
        for target in ["to_q", "to_k", "to_v"]:
            add(f"single_transformer_blocks.{i}.attn.{target}", inner, inner)

    path = Path(path)
    if not peft_folder:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path))
        return path
    path.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path / "adapter_model.safetensors"))
    adapter_config = {
        "peft_type": "LORA",
        "r": rank,
        "lora_alpha": rank,
        "lora_dropout": 0.0,
        "bias": "none",
        "init_lora_weights": "gaussian",
        "target_modules": targets,
        "use_dora": False,
    }
    (path / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2))
    return path


def _randomise_zero_inits(transformer: torch.nn.Module, seed: int) -> None:
    # diffusers zero-initialises some projections (e.g. the final AdaLN); with those at zero the tiny
    # model would output a constant and the tests could not tell a right sampler from a wrong one.
    generator = torch.Generator().manual_seed(seed + 1000)
    with torch.no_grad():
        for param in transformer.parameters():
            if torch.count_nonzero(param) == 0 and param.ndim >= 1:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.02)


def _write_tokenizers(folder: Path) -> tuple[int, int]:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    alphabet = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-")
    clip = Tokenizer(models.BPE(unk_token="<|endoftext|>", end_of_word_suffix="</w>"))
    clip.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    clip.pre_tokenizer = pre_tokenizers.Whitespace()
    clip.decoder = decoders.BPEDecoder(suffix="</w>")
    clip.train_from_iterator(
        _CORPUS,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=["<|startoftext|>", "<|endoftext|>"],
            end_of_word_suffix="</w>",
            initial_alphabet=alphabet,
            show_progress=False,
        ),
    )
    clip.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", 0), ("<|endoftext|>", 1)],
    )
    clip_dir = folder / "tokenizer"
    clip_dir.mkdir(parents=True, exist_ok=True)
    clip.save(str(clip_dir / "tokenizer.json"))
    clip.model.save(str(clip_dir))
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
    (clip_dir / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "model_max_length": 77,
                "pad_token": "<|endoftext|>",
                "tokenizer_class": "CLIPTokenizer",
                **special,
            }
        )
    )
    (clip_dir / "special_tokens_map.json").write_text(json.dumps({"pad_token": "<|endoftext|>", **special}))

    t5 = Tokenizer(models.Unigram())
    t5.normalizer = normalizers.NFKC()
    t5.pre_tokenizer = pre_tokenizers.Metaspace()
    t5.decoder = decoders.Metaspace()
    t5.train_from_iterator(
        _CORPUS,
        trainers.UnigramTrainer(
            vocab_size=300,
            special_tokens=["<pad>", "</s>", "<unk>"],
            unk_token="<unk>",
            initial_alphabet=alphabet,
            show_progress=False,
        ),
    )
    t5.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    t5_dir = folder / "tokenizer_2"
    t5_dir.mkdir(parents=True, exist_ok=True)
    t5.save(str(t5_dir / "tokenizer.json"))
    t5_special = {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
    (t5_dir / "tokenizer_config.json").write_text(
        json.dumps({"model_max_length": 512, "tokenizer_class": "T5Tokenizer", "extra_ids": 0, **t5_special})
    )
    (t5_dir / "special_tokens_map.json").write_text(json.dumps(t5_special))
    return clip.get_vocab_size(), t5.get_vocab_size()
