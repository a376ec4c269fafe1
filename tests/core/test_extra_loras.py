"""Extra FLUX LoRAs stacked on DiT360: sums of deltas, scale 0, layouts, other base models, history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from dit360_desktop.core import tiers
from dit360_desktop.core.engine import PanoramaEngine
from dit360_desktop.core.lora_stack import LoraStack, lora_slots
from dit360_desktop.panorama.errors import LoraMismatchError
from dit360_desktop.panorama.options import EngineOptions
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.testing.tiny_flux import build_tiny_lora

Q = "transformer_blocks.0.attn.to_q"
K = "transformer_blocks.0.attn.to_k"
OUT = "transformer_blocks.0.attn.to_out.0"
SINGLE_OUT = "single_transformer_blocks.0.proj_out"


@pytest.fixture(scope="module")
def config(tiny_flux_dir) -> dict:
    return json.loads((tiny_flux_dir / "transformer" / "config.json").read_text())


@pytest.fixture(scope="module")
def style_lora(tiny_flux_dir, tmp_path_factory) -> Path:
    """A second LoRA as a single diffusers/PEFT-layout file, rank 2."""
    path = tmp_path_factory.mktemp("style") / "style.safetensors"
    return build_tiny_lora(path, tiny_flux_dir / "transformer", rank=2, seed=7, peft_folder=False)


@pytest.fixture(scope="module")
def kohya_lora(config, tmp_path_factory) -> Path:
    """A LoRA in kohya's sd-scripts layout on BFL module names: fused qkv, lora_down/up, alpha."""
    inner = config["num_attention_heads"] * config["attention_head_dim"]
    generator = torch.Generator().manual_seed(11)

    def rand(*shape):
        return torch.randn(*shape, generator=generator) * 0.05

    tensors = {
        "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": rand(4, inner),
        "lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight": rand(3 * inner, 4),
        "lora_unet_double_blocks_0_img_attn_qkv.alpha": torch.tensor(2.0),
        "lora_unet_double_blocks_0_img_attn_proj.lora_down.weight": rand(4, inner),
        "lora_unet_double_blocks_0_img_attn_proj.lora_up.weight": rand(inner, 4),
        "lora_unet_double_blocks_0_img_attn_proj.alpha": torch.tensor(4.0),
        "lora_unet_single_blocks_0_linear2.lora_down.weight": rand(4, inner * 5),
        "lora_unet_single_blocks_0_linear2.lora_up.weight": rand(inner, 4),
    }
    path = tmp_path_factory.mktemp("kohya") / "kohya_style.safetensors"
    save_file(tensors, str(path))
    return path


@pytest.fixture(scope="module")
def comfy_bfl_lora(kohya_lora, tmp_path_factory) -> Path:
    """The same LoRA as ComfyUI saves it: BFL keys under ``diffusion_model.``."""
    modules = {
        "lora_unet_double_blocks_0_img_attn_qkv": "double_blocks.0.img_attn.qkv",
        "lora_unet_double_blocks_0_img_attn_proj": "double_blocks.0.img_attn.proj",
        "lora_unet_single_blocks_0_linear2": "single_blocks.0.linear2",
    }
    renamed = {}
    for key, tensor in load_file(str(kohya_lora)).items():
        stem, suffix = key.split(".", 1)
        renamed[f"diffusion_model.{modules[stem]}.{suffix}"] = tensor
    path = tmp_path_factory.mktemp("bfl") / "comfy_style.safetensors"
    save_file(renamed, str(path))
    return path


def fresh_transformer(folder: Path):
    from dit360_desktop.core.loading import load_transformer

    return load_transformer(folder, torch.float32)


def peft_delta(file: Path, module: str) -> torch.Tensor:
    """B·A of one module of a diffusers-layout LoRA file (alpha = rank, so PEFT's scaling is 1)."""
    tensors = load_file(str(file))
    return tensors[f"transformer.{module}.lora_B.weight"] @ tensors[f"transformer.{module}.lora_A.weight"]


def kohya_deltas(file: Path, inner: int) -> dict[str, torch.Tensor]:
    """kohya's definition: (alpha / rank) · up @ down per BFL layer; fused qkv rows are q, k, v in order."""
    t = load_file(str(file))

    def delta(stem: str) -> torch.Tensor:
        down, up = t[f"{stem}.lora_down.weight"], t[f"{stem}.lora_up.weight"]
        alpha = t.get(f"{stem}.alpha", torch.tensor(float(down.shape[0])))
        return float(alpha) / down.shape[0] * (up @ down)

    qkv = delta("lora_unet_double_blocks_0_img_attn_qkv")
    return {
        Q: qkv[:inner],
        K: qkv[inner : 2 * inner],
        OUT: delta("lora_unet_double_blocks_0_img_attn_proj"),
        SINGLE_OUT: delta("lora_unet_single_blocks_0_linear2"),
    }


def weight(transformer, module: str) -> torch.Tensor:
    layer = transformer.get_submodule(module)
    return getattr(layer, "base_layer", layer).weight.detach().clone()


def test_two_fused_loras_add_their_deltas_at_their_scales(tiny_flux_dir, tiny_lora_dir, style_lora):
    transformer = fresh_transformer(tiny_flux_dir)
    before = {m: weight(transformer, m) for m in (Q, K, OUT)}
    slots = lora_slots(str(tiny_lora_dir), 0.7, [(str(style_lora), -0.4)])
    applied = tiers.fuse_loras(transformer, slots)
    base = tiny_lora_dir / "adapter_model.safetensors"
    for module in (Q, K, OUT):
        expected = before[module] + 0.7 * peft_delta(base, module) - 0.4 * peft_delta(style_lora, module)
        torch.testing.assert_close(weight(transformer, module), expected, rtol=0, atol=1e-6)
    assert [a.scale for a in applied] == [0.7, -0.4] and [a.base for a in applied] == [True, False]
    assert [a.info.rank for a in applied] == [4, 2]
    assert not any("lora" in name for name, _ in transformer.named_modules()), "no PEFT layer is left"


@pytest.fixture(scope="module")
def bfl_peft_lora(comfy_bfl_lora, tmp_path_factory) -> Path:
    """BFL module names with PEFT's lora_A/lora_B names (alpha kept as ``.alpha`` keys)."""
    renamed = {
        k.replace(".lora_down.", ".lora_A.").replace(".lora_up.", ".lora_B."): v
        for k, v in load_file(str(comfy_bfl_lora)).items()
    }
    path = tmp_path_factory.mktemp("bfl-peft") / "bfl_peft_style.safetensors"
    save_file(renamed, str(path))
    return path


@pytest.mark.parametrize("layout", ["kohya", "comfy_bfl", "bfl_peft"])
def test_kohya_and_bfl_layouts_add_the_delta_their_format_defines(
    tiny_flux_dir, config, kohya_lora, comfy_bfl_lora, bfl_peft_lora, layout
):
    file = {"kohya": kohya_lora, "comfy_bfl": comfy_bfl_lora, "bfl_peft": bfl_peft_lora}[layout]
    inner = config["num_attention_heads"] * config["attention_head_dim"]
    transformer = fresh_transformer(tiny_flux_dir)
    deltas = kohya_deltas(kohya_lora, inner)
    before = {m: weight(transformer, m) for m in deltas}
    tiers.fuse_loras(transformer, lora_slots(None, 1.0, [(str(file), 0.5)]))
    for module, delta in deltas.items():
        torch.testing.assert_close(
            weight(transformer, module), before[module] + 0.5 * delta, rtol=0, atol=1e-6
        )


def transformer_inputs(config: dict) -> dict:
    g = torch.Generator().manual_seed(0)
    ids = torch.zeros(24, 3)
    ids[:, 1], ids[:, 2] = torch.arange(24) // 6, torch.arange(24) % 6
    return {
        "hidden_states": torch.randn(1, 24, config["in_channels"], generator=g),
        "encoder_hidden_states": torch.randn(1, 8, config["joint_attention_dim"], generator=g),
        "pooled_projections": torch.randn(1, config["pooled_projection_dim"], generator=g),
        "timestep": torch.tensor([0.7]),
        "guidance": torch.tensor([2.8]),
        "img_ids": ids,
        "txt_ids": torch.zeros(8, 3),
        "return_dict": False,
    }


@torch.no_grad()
def test_unfused_stack_equals_the_weights_plus_the_sum_of_scaled_deltas(
    tiny_flux_dir, tiny_lora_dir, style_lora, config
):
    """PEFT's adapters side by side give the output of W + Σ scale·B·A computed from the files."""
    stacked = fresh_transformer(tiny_flux_dir)
    stack = LoraStack()
    stack.apply(stacked, lora_slots(str(tiny_lora_dir), 0.8, [(str(style_lora), 1.5)]))
    manual = fresh_transformer(tiny_flux_dir)
    base = tiny_lora_dir / "adapter_model.safetensors"
    for key in load_file(str(base)):
        if key.endswith("lora_A.weight"):
            module = key.removeprefix("transformer.").removesuffix(".lora_A.weight")
            delta = 0.8 * peft_delta(base, module) + 1.5 * peft_delta(style_lora, module)
            manual.get_submodule(module).weight += delta
    inputs = transformer_inputs(config)
    expected = manual(**inputs)[0]
    plain = fresh_transformer(tiny_flux_dir)(**inputs)[0]
    torch.testing.assert_close(stacked(**inputs)[0], expected, rtol=1e-5, atol=1e-6)
    assert (expected - plain).abs().max() > 1e-3, "the LoRAs change the output"

    # A new scale is a set_adapters call; dropping one LoRA deletes its adapter only.
    stack.apply(stacked, lora_slots(str(tiny_lora_dir), 0.8, []))
    assert list(stacked.peft_config) == ["dit360"]
    only_base = fresh_transformer(tiny_flux_dir)
    tiers.fuse_loras(only_base, lora_slots(str(tiny_lora_dir), 0.8, []))
    torch.testing.assert_close(stacked(**inputs)[0], only_base(**inputs)[0], rtol=1e-5, atol=1e-6)


def small(**changes) -> GenerationRequest:
    values = dict(
        prompt="a castle on a hill", width=128, height=64, steps=2, seed=5, device="cpu", dtype="fp32"
    )
    return GenerationRequest(**{**values, **changes})


@pytest.fixture(scope="module")
def engine(tiny_flux_dir) -> PanoramaEngine:
    return PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False))


def test_scale_zero_equals_no_extra_lora(engine, tiny_lora_dir, style_lora):
    plain = engine.run(small(lora_path=str(tiny_lora_dir)))
    zero = engine.run(small(lora_path=str(tiny_lora_dir), extra_loras=((str(style_lora), 0.0),)))
    one = engine.run(small(lora_path=str(tiny_lora_dir), extra_loras=((str(style_lora), 1.0),)))
    assert torch.equal(zero.latent, plain.latent)
    assert (one.latent - plain.latent).abs().max() > 1e-4
    again = engine.run(small(lora_path=str(tiny_lora_dir)))
    assert torch.equal(again.latent, plain.latent), "removing the extra LoRA restores the exact result"


def test_extra_loras_are_recorded_with_hash_and_scale(engine, tiny_lora_dir, style_lora):
    from dit360_desktop.core.loading import sha256_file

    result = engine.run(small(lora_path=str(tiny_lora_dir), extra_loras=((str(style_lora), 0.6),)))
    (recorded,) = result.metadata["models"]["extra_loras"]
    assert recorded["name"] == "style.safetensors" and recorded["scale"] == 0.6
    assert recorded["sha256"] == sha256_file(style_lora) and recorded["rank"] == 2
    assert result.file_metadata()["request"]["extra_loras"] == [{"path": str(style_lora), "scale": 0.6}]


def test_fused_and_unfused_stacks_agree(tiny_flux_dir, engine, tiny_lora_dir, style_lora, kohya_lora):
    request = small(
        lora_path=str(tiny_lora_dir), extra_loras=((str(style_lora), 0.7), (str(kohya_lora), 1.2))
    )
    unfused = engine.run(request)
    fused_engine = PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False, fuse_lora=True))
    fused = fused_engine.run(request)
    torch.testing.assert_close(fused.latent, unfused.latent, rtol=1e-4, atol=1e-5)
    assert len(fused.metadata["models"]["extra_loras"]) == 2
    # Another scale of an extra LoRA re-fuses into fresh weights.
    first = fused_engine.model.components.transformer
    changed = fused_engine.run(request.replace(extra_loras=((str(style_lora), 0.0), (str(kohya_lora), 1.2))))
    assert fused_engine.model.components.transformer is not first
    assert (changed.latent - fused.latent).abs().max() > 1e-5


def test_fp8_tier_fuses_the_whole_stack_before_casting(tiny_flux_dir, tiny_lora_dir, style_lora):
    engine = PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False))
    request = small(lora_path=str(tiny_lora_dir), extra_loras=((str(style_lora), 1.0),), tier="24gb-fp8")
    with_extra = engine.run(request)
    without = engine.run(request.replace(extra_loras=()))
    assert engine.tier.transformer == "fp8"
    assert (with_extra.latent - without.latent).abs().max() > 1e-4, "the extra LoRA survives the fp8 cast"


def test_a_unet_lora_as_extra_is_refused_by_name_and_the_engine_stays_usable(engine, tiny_lora_dir, tmp_path):
    unet = tmp_path / "sdxl_style.safetensors"
    save_file(
        {
            "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 32),
            "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.zeros(32, 4),
        },
        str(unet),
    )
    with pytest.raises(LoraMismatchError, match=r"sdxl_style\.safetensors.*UNet"):
        engine.run(small(lora_path=str(tiny_lora_dir), extra_loras=((str(unet), 1.0),)))
    assert engine.run(small(lora_path=str(tiny_lora_dir))).latent.isfinite().all()


def test_restoring_a_result_restores_its_loras(engine, tiny_lora_dir, style_lora, tmp_path):
    from dit360_desktop.history.library import Library
    from dit360_desktop.panorama.imageio import read_metadata
    from dit360_desktop.ui.common.form import GenerationForm
    from dit360_desktop.ui.generation.drop import request_fields_from_metadata

    extras = ((str(style_lora), 0.6),)
    result = engine.run(small(lora_path=str(tiny_lora_dir), extra_loras=extras))
    library = Library.open(tmp_path / "library")
    try:
        entry = library.save(result)
        stored = library.get(entry.id)
        meta = read_metadata(stored.path)
    finally:
        library.close()
    assert GenerationRequest.from_dict(meta.dit360["request"]).extra_loras == extras
    assert "a castle on a hill <lora:style:0.6>" in meta.parameters
    form = GenerationForm()
    form.recall(request_fields_from_metadata(meta.dit360, meta.parameters))
    assert form.to_request().extra_loras == extras
    assert torch.equal(
        engine.run(form.to_request().replace(lora_path=str(tiny_lora_dir))).latent, result.latent
    )


def test_streaming_tier_fuses_the_stack_like_the_resident_tier(
    tiny_flux_dir, engine, tiny_lora_dir, style_lora
):
    request = small(lora_path=str(tiny_lora_dir), extra_loras=((str(style_lora), 0.9),))
    streamed = PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False)).run(request.replace(tier="24gb"))
    torch.testing.assert_close(streamed.latent, engine.run(request).latent, rtol=1e-4, atol=1e-5)


def test_extra_loras_stack_unfused_on_a_gguf_transformer(tiny_flux_dir, tiny_lora_dir, style_lora, tmp_path):
    pytest.importorskip("gguf")
    import importlib.util
    import shutil

    from diffusers.quantizers.gguf.utils import GGUFLinear

    # The GGUF writer and BFL key mapping of the GGUF tests, reused rather than copied.
    spec = importlib.util.spec_from_file_location(
        "gguf_test_helpers", Path(__file__).with_name("test_gguf.py")
    )
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    load_reference, to_bfl, write_gguf = helpers.load_reference, helpers.to_bfl, helpers.write_gguf

    config = json.loads((tiny_flux_dir / "transformer" / "config.json").read_text())
    gguf_file = write_gguf(
        tmp_path / "flux1-dev-Q8_0.gguf", to_bfl(load_reference(tiny_flux_dir).state_dict(), config)
    )
    folder = tmp_path / "FLUX.1-dev"
    shutil.copytree(tiny_flux_dir, folder)
    for weights in (folder / "transformer").glob("*.safetensors"):
        weights.unlink()
    request = small(lora_path=str(tiny_lora_dir), extra_loras=((str(style_lora), 1.0),), tier="12gb")
    gguf_engine = PanoramaEngine(folder, EngineOptions(previews=False, gguf_file=gguf_file))
    stacked = gguf_engine.run(request)
    layer = gguf_engine.model.components.transformer.transformer_blocks[0].attn.to_q
    assert isinstance(layer.base_layer, GGUFLinear)
    assert len(layer.lora_A) == 2 and "dit360" in layer.lora_A, "two adapters over the quantised weight"
    base_only = gguf_engine.run(request.replace(extra_loras=()))
    exact = PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False)).run(request.replace(tier="cpu"))
    assert relative_error(stacked.latent, exact.latent) < 0.02, "Q8_0 rounding only"
    assert relative_error(base_only.latent, stacked.latent) > 1e-3


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_a_refused_extra_lora_while_fusing_leaves_the_next_run_fresh_weights(
    tiny_flux_dir, tiny_lora_dir, tmp_path
):
    unet = tmp_path / "sd15_style.safetensors"
    save_file({"lora_unet_up_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 32)}, str(unet))
    fused = PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False, fuse_lora=True))
    request = small(lora_path=str(tiny_lora_dir))
    with pytest.raises(LoraMismatchError, match="sd15_style"):
        fused.run(request.replace(extra_loras=((str(unet), 1.0),)))
    # The DiT360 adapter was loaded before the refusal: the next run must not merge it twice.
    after = fused.run(request)
    fresh = PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False, fuse_lora=True)).run(request)
    assert torch.equal(after.latent, fresh.latent)


def test_a_kohya_lora_that_also_trains_clip_is_refused_naming_the_text_encoder(engine, kohya_lora, tmp_path):
    tensors = load_file(str(kohya_lora))
    tensors["lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight"] = torch.zeros(4, 32)
    tensors["lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight"] = torch.zeros(32, 4)
    with_clip = tmp_path / "with_clip.safetensors"
    save_file(tensors, str(with_clip))
    with pytest.raises(
        LoraMismatchError, match=r"with_clip\.safetensors also changes the text encoder \(2 tensors"
    ):
        engine.run(small(extra_loras=((str(with_clip), 1.0),)))
