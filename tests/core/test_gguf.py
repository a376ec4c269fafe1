"""GGUF transformers, written here with the ``gguf`` package in the BFL key layout of real FLUX GGUFs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dit360_desktop.core.gguf_flux import inspect_gguf, load_gguf_transformer
from dit360_desktop.panorama.errors import ModelInvalidError, ModelMissingError

gguf = pytest.importorskip("gguf")
Q = gguf.GGMLQuantizationType


def to_bfl(state: dict[str, torch.Tensor], config: dict) -> dict[str, torch.Tensor]:
    """diffusers FluxTransformer2DModel keys → Black Forest Labs keys (inverse of the loader's mapping)."""
    s = dict(state)
    out: dict[str, torch.Tensor] = {}

    def move(new: str, old: str) -> None:
        for suffix in ("weight", "bias"):
            if f"{old}.{suffix}" in s:
                out[f"{new}.{suffix}"] = s.pop(f"{old}.{suffix}")

    def fuse(new: str, olds: list[str]) -> None:
        for suffix in ("weight", "bias"):
            out[f"{new}.{suffix}"] = torch.cat([s.pop(f"{o}.{suffix}") for o in olds])

    for new, old in [
        ("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1"),
        ("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2"),
        ("vector_in.in_layer", "time_text_embed.text_embedder.linear_1"),
        ("vector_in.out_layer", "time_text_embed.text_embedder.linear_2"),
        ("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1"),
        ("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2"),
        ("txt_in", "context_embedder"),
        ("img_in", "x_embedder"),
        ("final_layer.linear", "proj_out"),
    ]:
        move(new, old)
    for suffix in ("weight", "bias"):
        scale, shift = s.pop(f"norm_out.linear.{suffix}").chunk(2)
        out[f"final_layer.adaLN_modulation.1.{suffix}"] = torch.cat([shift, scale])
    for i in range(config["num_layers"]):
        o, n = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        for new, old in [
            ("img_mod.lin", "norm1.linear"),
            ("txt_mod.lin", "norm1_context.linear"),
            ("img_attn.proj", "attn.to_out.0"),
            ("txt_attn.proj", "attn.to_add_out"),
            ("img_mlp.0", "ff.net.0.proj"),
            ("img_mlp.2", "ff.net.2"),
            ("txt_mlp.0", "ff_context.net.0.proj"),
            ("txt_mlp.2", "ff_context.net.2"),
        ]:
            move(n + new, o + old)
        fuse(n + "img_attn.qkv", [o + "attn.to_q", o + "attn.to_k", o + "attn.to_v"])
        fuse(n + "txt_attn.qkv", [o + "attn.add_q_proj", o + "attn.add_k_proj", o + "attn.add_v_proj"])
        for new, old in [
            ("img_attn.norm.query_norm", "attn.norm_q"),
            ("img_attn.norm.key_norm", "attn.norm_k"),
            ("txt_attn.norm.query_norm", "attn.norm_added_q"),
            ("txt_attn.norm.key_norm", "attn.norm_added_k"),
        ]:
            out[f"{n}{new}.scale"] = s.pop(f"{o}{old}.weight")
    for i in range(config["num_single_layers"]):
        o, n = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        move(n + "modulation.lin", o + "norm.linear")
        move(n + "linear2", o + "proj_out")
        fuse(n + "linear1", [o + "attn.to_q", o + "attn.to_k", o + "attn.to_v", o + "proj_mlp"])
        out[f"{n}norm.query_norm.scale"] = s.pop(f"{o}attn.norm_q.weight")
        out[f"{n}norm.key_norm.scale"] = s.pop(f"{o}attn.norm_k.weight")
    assert not s, f"unmapped keys: {sorted(s)}"
    return out


def random_k_quant_blocks(rows: int, cols: int, qtype, seed: int = 0) -> np.ndarray:
    """Valid Q4_K/Q5_K bytes: random quants and sub-scales, small finite fp16 super-block scales."""
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(rows * cols // block_size, type_size), dtype=np.uint8)
    blocks[:, 0:2] = np.frombuffer(np.float16(0.002).tobytes(), np.uint8)
    blocks[:, 2:4] = np.frombuffer(np.float16(0.001).tobytes(), np.uint8)
    return blocks.reshape(rows, cols // block_size * type_size)


def write_gguf(
    path: Path,
    tensors: dict[str, torch.Tensor],
    *,
    arch: str = "flux",
    qtype=Q.Q8_0,
    raw: dict[str, tuple[np.ndarray, object]] | None = None,
) -> Path:
    writer = gguf.GGUFWriter(str(path), arch)
    for name, tensor in tensors.items():
        array = tensor.detach().float().numpy()
        if array.ndim == 2 and array.shape[1] % 32 == 0:
            writer.add_tensor(name, gguf.quants.quantize(array, qtype), raw_dtype=qtype)
        else:
            writer.add_tensor(name, array.astype(np.float32))
    for name, (blocks, kind) in (raw or {}).items():
        writer.add_tensor(name, blocks, raw_dtype=kind)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def load_reference(folder: Path):
    from diffusers import FluxTransformer2DModel

    return FluxTransformer2DModel.from_pretrained(folder / "transformer", dtype=torch.float32).eval()


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


@pytest.fixture(scope="module")
def flux_config(tiny_flux_dir) -> dict:
    return json.loads((tiny_flux_dir / "transformer" / "config.json").read_text())


@pytest.fixture(scope="module")
def bfl_state(tiny_flux_dir, flux_config) -> dict[str, torch.Tensor]:
    return to_bfl(load_reference(tiny_flux_dir).state_dict(), flux_config)


@pytest.fixture(scope="module")
def q8_gguf(tmp_path_factory, bfl_state) -> Path:
    return write_gguf(tmp_path_factory.mktemp("gguf") / "flux1-dev-Q8_0.gguf", bfl_state)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def test_inspect_reports_layout_and_quantisation(q8_gguf, bfl_state):
    info = inspect_gguf(q8_gguf)
    assert info.architecture == "flux"
    assert info.layout == "bfl"
    assert info.tensors == len(bfl_state)
    assert info.quant_types["Q8_0"] > 10 and "F32" in info.quant_types


def test_q8_transformer_loads_quantised_and_matches_fp32(q8_gguf, tiny_flux_dir, flux_config):
    from diffusers.quantizers.gguf.utils import GGUFLinear

    model = load_gguf_transformer(q8_gguf, tiny_flux_dir / "transformer", compute_dtype=torch.float32)
    q_proj = model.transformer_blocks[0].attn.to_q
    assert isinstance(q_proj, GGUFLinear)
    assert q_proj.weight.dtype == torch.uint8 and q_proj.weight.quant_type == Q.Q8_0
    assert isinstance(model.single_transformer_blocks[0].proj_mlp, GGUFLinear)
    inputs = transformer_inputs(flux_config)
    with torch.no_grad():
        ours = model(**inputs)[0]
        reference = load_reference(tiny_flux_dir)(**inputs)[0]
    # Q8_0 keeps 8 bits per weight with one fp16 scale per 32: ~0.5 % error per call on this model.
    assert relative_error(ours, reference) < 0.02


def test_lora_attaches_unfused_to_a_gguf_transformer(q8_gguf, tiny_flux_dir, tiny_lora_dir, flux_config):
    from diffusers.quantizers.gguf.utils import GGUFLinear

    from dit360_desktop.core.loading import load_lora

    model = load_gguf_transformer(q8_gguf, tiny_flux_dir / "transformer", compute_dtype=torch.float32)
    reference = load_reference(tiny_flux_dir)
    load_lora(model, tiny_lora_dir, "dit360")
    load_lora(reference, tiny_lora_dir, "dit360")
    wrapped = model.transformer_blocks[0].attn.to_q
    assert isinstance(wrapped.base_layer, GGUFLinear), "the quantised layer stays quantised under the LoRA"
    assert wrapped.base_layer.weight.dtype == torch.uint8
    inputs = transformer_inputs(flux_config)
    with torch.no_grad():
        ours, theirs = model(**inputs)[0], reference(**inputs)[0]
        model.disable_lora()
        reference.disable_lora()
        ours_delta = ours - model(**inputs)[0]
        reference_delta = theirs - reference(**inputs)[0]
    assert relative_error(ours, theirs) < 0.02
    # The LoRA's own contribution survives quantisation of the base weights.
    assert reference_delta.abs().max() > 1e-3
    assert relative_error(ours_delta, reference_delta) < 0.2


def test_diffusers_key_layout_loads_too(tmp_path, tiny_flux_dir, flux_config):
    path = write_gguf(tmp_path / "diffusers-layout.gguf", load_reference(tiny_flux_dir).state_dict())
    assert inspect_gguf(path).layout == "diffusers"
    model = load_gguf_transformer(path, tiny_flux_dir / "transformer", compute_dtype=torch.float32)
    inputs = transformer_inputs(flux_config)
    with torch.no_grad():
        assert relative_error(model(**inputs)[0], load_reference(tiny_flux_dir)(**inputs)[0]) < 0.02


@pytest.mark.parametrize("qtype", [Q.Q4_K, Q.Q5_K], ids=["Q4_K", "Q5_K"])
def test_k_quants_dequantise_like_the_gguf_reference(tmp_path, tiny_flux_dir, bfl_state, qtype):
    from diffusers.quantizers.gguf.utils import dequantize_gguf_tensor

    # time_in.in_layer has 256 inputs: one K-quant super-block per row (gguf-py cannot quantise K types,
    # so the blocks are random but valid, and the reference is gguf-py's own dequantiser).
    state = dict(bfl_state)
    rows, cols = state.pop("time_in.in_layer.weight").shape
    blocks = random_k_quant_blocks(rows, cols, qtype)
    path = write_gguf(tmp_path / "k.gguf", state, raw={"time_in.in_layer.weight": (blocks, qtype)})
    assert inspect_gguf(path).quant_types[qtype.name] == 1
    model = load_gguf_transformer(path, tiny_flux_dir / "transformer", compute_dtype=torch.float32)
    weight = model.time_text_embed.timestep_embedder.linear_1.weight
    assert weight.quant_type == qtype
    expected = gguf.quants.dequantize(blocks, qtype)
    assert expected.shape == (rows, cols)
    # diffusers dequantises in fp16 (the GGUF scales are fp16), gguf-py in fp32: equal to fp16 rounding.
    actual = dequantize_gguf_tensor(weight).float().numpy()
    np.testing.assert_allclose(actual, expected, rtol=5e-3, atol=1e-4)
    assert np.abs(expected).max() > 0.1


def test_missing_file(tmp_path, tiny_flux_dir):
    with pytest.raises(ModelMissingError, match="does not exist"):
        load_gguf_transformer(
            tmp_path / "nope.gguf", tiny_flux_dir / "transformer", compute_dtype=torch.float32
        )


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_file_is_a_clear_model_error(tmp_path, q8_gguf, tiny_flux_dir, damage):
    data = q8_gguf.read_bytes()
    broken = tmp_path / "broken.gguf"
    payload = {"truncated": data[: len(data) // 2], "garbage": bytes(range(256)) * 20, "empty": b""}[damage]
    broken.write_bytes(payload)
    with pytest.raises(ModelInvalidError, match="not a readable GGUF file"):
        load_gguf_transformer(broken, tiny_flux_dir / "transformer", compute_dtype=torch.float32)


def test_gguf_of_another_architecture_is_refused(tmp_path, tiny_flux_dir):
    path = write_gguf(tmp_path / "llama.gguf", {"blk.0.attn_q.weight": torch.randn(32, 32)}, arch="llama")
    with pytest.raises(ModelInvalidError, match="'llama' architecture"):
        load_gguf_transformer(path, tiny_flux_dir / "transformer", compute_dtype=torch.float32)


def test_gguf_without_flux_tensors_is_refused(tmp_path, tiny_flux_dir):
    path = write_gguf(tmp_path / "unet.gguf", {"input_blocks.0.0.weight": torch.randn(32, 32)})
    with pytest.raises(ModelInvalidError, match=r"does not hold a FLUX\.1 transformer"):
        load_gguf_transformer(path, tiny_flux_dir / "transformer", compute_dtype=torch.float32)


def test_flux_of_another_size_is_refused(tmp_path, tiny_flux_dir, flux_config):
    from diffusers import FluxTransformer2DModel

    wider = {**flux_config, "num_attention_heads": 4}
    other = FluxTransformer2DModel.from_config({k: v for k, v in wider.items() if not k.startswith("_")})
    path = write_gguf(tmp_path / "wider.gguf", to_bfl(other.state_dict(), wider))
    with pytest.raises(ModelInvalidError, match="different model size"):
        load_gguf_transformer(path, tiny_flux_dir / "transformer", compute_dtype=torch.float32)


def test_schnell_without_guidance_is_refused(tmp_path, tiny_flux_dir, bfl_state):
    no_guidance = {k: v for k, v in bfl_state.items() if not k.startswith("guidance_in.")}
    path = write_gguf(tmp_path / "schnell.gguf", no_guidance)
    with pytest.raises(ModelInvalidError, match=r"missing: time_text_embed\.guidance_embedder"):
        load_gguf_transformer(path, tiny_flux_dir / "transformer", compute_dtype=torch.float32)


@pytest.fixture(scope="module")
def folder_without_transformer_weights(tiny_flux_dir, tmp_path_factory) -> Path:
    import shutil

    folder = tmp_path_factory.mktemp("gguf-only") / "FLUX.1-dev"
    shutil.copytree(tiny_flux_dir, folder)
    for weights in (folder / "transformer").glob("*.safetensors"):
        weights.unlink()
    return folder


def test_engine_runs_a_gguf_tier_with_an_unfused_lora(
    q8_gguf, tiny_flux_dir, tiny_lora_dir, folder_without_transformer_weights, monkeypatch
):
    from diffusers.quantizers.gguf.utils import GGUFLinear

    from dit360_desktop.core import loading

    # Group offload must be set up again once PEFT added the LoRA layers: with CUDA streams it onloads
    # from pinned copies made when it was enabled (without this, a KeyError at the first step on an H100).
    refreshed = []
    original_refresh = loading.refresh_group_offload

    def refresh(transformer):
        # (On the CPU, diffusers applies no group offload: onload and offload device are the same.)
        assert any("lora" in name for name, _ in transformer.named_parameters())
        refreshed.append(transformer)
        original_refresh(transformer)

    monkeypatch.setattr(loading, "refresh_group_offload", refresh)

    from dit360_desktop.core.engine import PanoramaEngine
    from dit360_desktop.panorama.options import EngineOptions
    from dit360_desktop.panorama.request import GenerationRequest

    request = GenerationRequest(
        prompt="a castle on a hill",
        width=128,
        height=64,
        steps=2,
        seed=5,
        device="cpu",
        dtype="fp32",
        lora_path=str(tiny_lora_dir),
        tier="12gb",
    )
    reference = PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False)).run(request.replace(tier="cpu"))
    refreshed.clear()
    engine = PanoramaEngine(
        folder_without_transformer_weights, EngineOptions(previews=False, gguf_file=q8_gguf)
    )
    result = engine.run(request)
    assert result.metadata["memory_tier"]["transformer"] == "gguf:flux1-dev-Q8_0.gguf"
    assert result.metadata["memory_tier"]["offload"] == "block_level"
    layer = engine.model.components.transformer.transformer_blocks[0].attn.to_q
    assert isinstance(layer.base_layer, GGUFLinear), "the LoRA is a PEFT layer over the quantised weight"
    # Q8_0 weights: measured 0.4 % on the final latent.
    assert relative_error(result.latent, reference.latent) < 0.02
    transformer = engine.model.components.transformer
    assert refreshed == [transformer]
    half = engine.run(request.replace(lora_scale=0.5))
    assert engine.model.components.transformer is transformer, "an unfused LoRA changes scale in place"
    assert refreshed == [transformer], "a new scale adds no layers"
    assert relative_error(half.latent, result.latent) > 1e-4


def test_engine_reports_a_corrupt_gguf_as_a_model_error(tmp_path, tiny_flux_dir):
    from dit360_desktop.core.engine import PanoramaEngine
    from dit360_desktop.panorama.events import FailedEvent
    from dit360_desktop.panorama.options import EngineOptions
    from dit360_desktop.panorama.request import GenerationRequest

    broken = tmp_path / "flux1-dev-Q4_K_S.gguf"
    broken.write_bytes(b"GGUF" + bytes(100))
    events = []
    engine = PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False, gguf_file=broken))
    request = GenerationRequest(prompt="x", width=128, height=64, steps=1, device="cpu", tier="12gb")
    with pytest.raises(ModelInvalidError, match="not a readable GGUF file"):
        engine.run(request, on_event=events.append)
    assert isinstance(events[-1], FailedEvent)
    assert not engine.is_loaded


def test_missing_gguf_package_is_a_clear_error(q8_gguf, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "gguf", None)  # what an install without the [gguf] extra looks like
    with pytest.raises(ModelMissingError, match=r"pip install 'dit360-desktop\[gguf\]'"):
        inspect_gguf(q8_gguf)
