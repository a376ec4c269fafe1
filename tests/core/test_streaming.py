"""Partial weight streaming (the 24gb tier): which blocks are streamed, the order of the copies, and
results identical to the resident model."""

from __future__ import annotations

import dataclasses
import itertools
import json

import pytest
import torch

from dit360_desktop.core import streaming, tiers
from dit360_desktop.core.engine import PanoramaEngine
from dit360_desktop.core.tiers import GIB, plan_tier
from dit360_desktop.panorama.options import EngineOptions
from dit360_desktop.panorama.request import GenerationRequest

CUDA = torch.device("cuda")  # planned for only
CPU = torch.device("cpu")


def full_size_transformer():
    from diffusers import FluxTransformer2DModel

    from dit360_desktop.paths import resource

    config = json.loads(resource("model_configs", "flux1-dev", "transformer", "config.json").read_text())
    with torch.device("meta"):
        return FluxTransformer2DModel.from_config(config).to(torch.bfloat16)


def test_full_size_flux_streams_sixteen_spread_out_single_blocks_at_18_gib():
    model = full_size_transformer()
    total = streaming.module_bytes(model)
    assert 22.1 < total / GIB < 22.2
    chosen = streaming.choose_streamed_blocks(
        [model.transformer_blocks, model.single_transformer_blocks], 18 * GIB, total
    )
    singles = list(model.single_transformer_blocks)
    indices = [singles.index(block) for block in chosen]
    assert len(indices) == 16 and indices == sorted(indices)
    gaps = [b - a for a, b in itertools.pairwise(indices)]
    assert min(gaps) >= 2, "a resident block between streamed ones"
    streamed = sum(streaming.module_bytes(block) for block in chosen)
    assert total - streamed <= 18 * GIB < total - streamed + streaming.module_bytes(chosen[0])
    # A smaller budget takes every single block, then double blocks too.
    more = streaming.choose_streamed_blocks(
        [model.transformer_blocks, model.single_transformer_blocks], 10 * GIB, total
    )
    assert set(singles) <= set(more) and any(block in model.transformer_blocks for block in more)
    with pytest.raises(ValueError, match="does not fit"):
        streaming.choose_streamed_blocks([model.transformer_blocks], 1 * GIB, total)
    assert streaming.choose_streamed_blocks([model.transformer_blocks], total, total) == []


class Chain(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.inp = torch.nn.Linear(8, 8)
        self.blocks = torch.nn.ModuleList(torch.nn.Linear(8, 8) for _ in range(6))
        self.register_buffer("offset", torch.full((8,), 0.5))

    def forward(self, x):
        x = self.inp(x)
        for block in self.blocks:
            x = torch.tanh(block(x))
        return x + self.offset


def test_streamed_blocks_are_copied_one_ahead_and_dropped_after_use(monkeypatch):
    model = Chain().eval()
    x = torch.randn(3, 8)
    with torch.no_grad():
        expected = model(x)
    picked = [model.blocks[1], model.blocks[3], model.blocks[5]]
    handle = streaming.stream_blocks(model, picked, CPU)
    assert streaming.is_streamed(model)
    assert handle.nbytes == sum(streaming.module_bytes(block) for block in picked)
    events = []
    for name in ("load", "enter", "leave"):
        original = getattr(handle, name)
        monkeypatch.setattr(
            handle, name, lambda i, original=original, name=name: (events.append((name, i)), original(i))
        )
    with torch.no_grad():
        got = model(x)
    assert torch.equal(got, expected)
    loads_and_uses = [
        ("load", 0),  # at the model's start
        ("enter", 0), ("load", 0), ("load", 1), ("leave", 0),
        ("enter", 1), ("load", 1), ("load", 2), ("leave", 1),
        ("enter", 2), ("load", 2), ("leave", 2),
    ]  # fmt: skip
    assert events == loads_and_uses
    # After its forward every streamed weight is its RAM copy again, not a device copy.
    for slot in handle.slots:
        assert not slot.on_device
        for tensor, cpu in slot.tensors:
            assert tensor.data.data_ptr() == cpu.data_ptr()
    streaming.unstream(model)
    assert not streaming.is_streamed(model)
    events.clear()
    with torch.no_grad():
        assert torch.equal(model(x), expected)
    assert events == [], "no hooks are left behind"


def small(**changes) -> GenerationRequest:
    base = dict(prompt="a castle", width=128, height=64, steps=2, seed=11, device="cpu", dtype="fp32")
    return GenerationRequest(**{**base, **changes})


def test_streaming_plan_on_cuda():
    plan = plan_tier("24gb", CUDA, dtype="bf16")
    assert (plan.transformer, plan.offload, plan.streams, plan.t5) == ("native", "stream", True, "stream")
    assert plan.resident_bytes == 18 * GIB and plan.fuses_lora and plan.text_encoders == "resident"
    assert plan.notes == ()
    # Chosen automatically, a card with more free memory keeps more blocks resident.
    roomy = plan_tier("auto", CUDA, dtype="bf16", memory=(32 * GIB, 30 * GIB))
    assert roomy.name == "24gb" and roomy.resident_bytes == 26 * GIB
    tight = plan_tier("auto", CUDA, dtype="bf16", memory=(24 * GIB, 21 * GIB))
    assert tight.resident_bytes == 18 * GIB
    gguf = plan_tier("24gb", CUDA, dtype="bf16", gguf_file="flux1-dev-Q8_0.gguf")
    assert gguf.offload is None and gguf.t5 == "stream" and not gguf.fuses_lora


@pytest.fixture
def streaming_24gb(monkeypatch):
    """The 24gb tier with a resident budget small enough to stream blocks of the tiny model."""
    original = tiers.plan_tier

    def tiny_budget(*args, **kwargs):
        plan = original(*args, **kwargs)
        return dataclasses.replace(plan, resident_bytes=270_000) if plan.offload == "stream" else plan

    monkeypatch.setattr(tiers, "plan_tier", tiny_budget)


def test_streaming_tier_gives_the_resident_result(tiny_flux_dir, tiny_lora_dir, streaming_24gb):
    reference = PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False))
    expected = reference.run(small(lora_path=str(tiny_lora_dir), tier="full"))
    engine = PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False))
    result = engine.run(small(lora_path=str(tiny_lora_dir), tier="24gb"))
    components = engine.model.components
    transformer_stream = getattr(components.transformer, streaming.ATTRIBUTE)
    streamed = [slot.block for slot in transformer_stream.slots]
    assert streamed == [components.transformer.single_transformer_blocks[0]]
    t5_stream = getattr(components.text_encoder_2, streaming.ATTRIBUTE)
    assert len(t5_stream.slots) == len(components.text_encoder_2.encoder.block)
    assert result.metadata["memory_tier"]["offload"] == "stream"
    # The LoRA is fused into the 16-bit weights (PEFT layers would not be streamed with their block).
    assert engine.tier.fuses_lora
    assert not any("lora" in name for name, _ in components.transformer.named_modules())
    error = ((result.latent - expected.latent).norm() / expected.latent.norm()).item()
    assert error < 1e-5  # measured 6e-8: fused instead of separate LoRA matmuls, nothing else differs
    # A new LoRA scale reloads and streams a fresh transformer.
    first = components.transformer
    half = engine.run(small(lora_path=str(tiny_lora_dir), lora_scale=0.5, tier="24gb"))
    assert streaming.is_streamed(engine.model.components.transformer)
    assert engine.model.components.transformer is not first
    assert ((half.latent - result.latent).norm() / result.latent.norm()).item() > 1e-4


def test_text_encoders_moved_to_the_cpu_are_no_longer_streamed(tiny_flux_dir, streaming_24gb):
    engine = PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False))
    engine.load(device="cpu", dtype="fp32", tier="24gb")
    t5 = engine.model.components.text_encoder_2
    assert streaming.is_streamed(t5)
    tiers.move_text_encoders_to_cpu(engine.model.components)
    assert not streaming.is_streamed(t5)
    assert not t5.encoder.block[0]._forward_pre_hooks


def test_compile_is_skipped_with_a_note_for_a_streamed_transformer(tiny_flux_dir, monkeypatch):
    from diffusers import FluxTransformer2DModel

    from dit360_desktop.core.speed import apply_speed_options

    transformer = FluxTransformer2DModel.from_pretrained(tiny_flux_dir / "transformer").eval()
    streaming.stream_blocks(transformer, [transformer.single_transformer_blocks[0]], CPU)
    monkeypatch.setattr(transformer, "compile_repeated_blocks", lambda **kw: pytest.fail("compiled"))
    notes = apply_speed_options(transformer, CPU, compile=True)
    assert notes == ["torch.compile is not used with streamed blocks (24gb tier); it runs eagerly."]
